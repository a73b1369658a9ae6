import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (str(ROOT / "platform"), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from config.processes import private_files  # noqa: E402

private_files()  # what the site writes is its own (umask 077): uploads, pictures, the database

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
