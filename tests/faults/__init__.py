"""Fault tests (issue #7): workers killed, Redis down, PostgreSQL restarted, a full disk. See docs/faults.md."""
