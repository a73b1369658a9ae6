"""Flower's configuration file (``celery -A workers flower --conf=workers/flowerconfig.py``):
Flower executes it and takes its names as options. The password comes from a file, never from
the environment: ``STRIDE_FLOWER_BASIC_AUTH_FILE`` names the file that holds ``user:password``
(a compose secret). Without it Flower refuses to start: it shows every task's arguments and can
revoke tasks and shut workers down."""
import os as _os
from pathlib import Path as _Path

_path = _os.environ.get("STRIDE_FLOWER_BASIC_AUTH_FILE", "")
if not _path:
    raise SystemExit("Flower needs a password: set STRIDE_FLOWER_BASIC_AUTH_FILE to a file that "
                     "holds user:password (docker-compose.yml's flower_basic_auth secret)")
try:
    basic_auth = _Path(_path).read_text(encoding="utf-8").strip()
except OSError as _exc:
    raise SystemExit(f"STRIDE_FLOWER_BASIC_AUTH_FILE={_path}: {_exc.strerror}") from None
if ":" not in basic_auth or basic_auth.startswith(":") or basic_auth.endswith(":"):
    raise SystemExit(f"{_path} must hold user:password for Flower")
