"""The escape kit: each attack runs inside the real sandbox child, after every isolation step,
once with a root worker and once with an unprivileged one (see conftest.py), and must fail; a
valid model graded right after each attack is graded normally."""
from __future__ import annotations

import pytest

from tests.sandbox.attacks import ATTACKS


def _entry(kit_report, name):
    mode, data, reference = kit_report
    entry = data["attacks"][name]
    # Whatever the attack did, the next submission is graded as if nothing had happened.
    assert entry["after"]["ok"], (mode, entry["after"])
    assert entry["after"]["argmax"] == reference
    assert entry["orphans"] == [] and entry["written_outside"] == []
    assert entry["udp_received"] is None and entry["unix_accepted"] is False
    return mode, entry


def _blocked(kit_report, name):
    mode, entry = _entry(kit_report, name)
    assert entry["ok"], (mode, entry["error"])  # the attack ran to its end in the child
    attack = entry["attack"]
    assert attack is not None and attack["escaped"] is False, (mode, attack)
    return entry


@pytest.mark.parametrize("name", [
    "read_environ", "read_secret_files", "read_database", "read_media", "read_other_upload", "read_hidden_set",
    "read_source", "tcp_socket", "udp_socket", "unix_socket", "inherited_descriptor",
    "pidfd_getfd", "ptrace", "write_outside",
])
def test_attack_is_blocked(kit_report, name):
    entry = _blocked(kit_report, name)
    assert "Denied" in entry["attack"]["detail"] or "Error" in entry["attack"]["detail"] \
        or name == "inherited_descriptor"


def test_no_process_outlives_the_job(kit_report):
    mode, entry = _entry(kit_report, "leave_a_process")
    assert entry["ok"], entry["error"]
    assert entry["orphans"] == []  # checked half a second after the job, from outside


def test_the_file_limit_stops_a_full_disk(kit_report):
    entry = _blocked(kit_report, "fill_disk")
    assert "File too large" in entry["attack"]["detail"]  # EFBIG at RLIMIT_FSIZE


def test_a_result_cannot_claim_a_score(kit_report):
    mode, entry = _entry(kit_report, "claim_a_score")
    # The parent scores predictions itself: a result.json without them is refused.
    assert not entry["ok"] and entry["error_code"] == "bad_predictions"
    assert entry["score_fields"] == []


def test_every_attack_has_a_test():
    covered = {"read_environ", "read_secret_files", "read_database", "read_media", "read_other_upload",
               "read_hidden_set", "read_source", "tcp_socket", "udp_socket", "unix_socket",
               "inherited_descriptor", "pidfd_getfd", "ptrace", "write_outside",
               "leave_a_process", "fill_disk", "claim_a_score"}
    assert covered == set(ATTACKS)
