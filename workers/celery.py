"""The Celery app, its queues and routes.

Two queues: ``default`` for light work and ``gpu`` for model grading and diffusion runs.
Every task has an explicit name; acks are late and the prefetch is 1, so a killed worker's
task goes back to the queue instead of vanishing (DESIGN.md, "Tasks are an API").
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent
# platform/ is a source folder, never a package (DESIGN.md): put it on the path.
for entry in (str(ROOT), str(ROOT / "platform")):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("stride")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue its own exchange and key: with Celery's shared defaults, a message for one queue
# would also be delivered to the other.
app.conf.task_queues = (
    Queue("default", Exchange("default", type="direct"), routing_key="default"),
    Queue("gpu", Exchange("gpu", type="direct"), routing_key="gpu"),
)
app.conf.task_routes = {
    "stride.ping": {"queue": "default"},
    "stride.models.*": {"queue": "gpu"},
    "stride.diffusion.*": {"queue": "gpu"},
}
app.conf.worker_hijack_root_logger = False
app.autodiscover_tasks(["workers"], related_name="tasks")


@app.on_after_configure.connect
def _broker_folders(sender, **kwargs) -> None:
    """The filesystem broker needs its folders before the first message."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = str(sender.conf.result_backend or "")
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)
