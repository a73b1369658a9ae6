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
# Routes by name, so a message sent by name (the web side never imports the tasks) goes to
# the right queue; the ``stride.*`` names are those of before the rename (workers.tasks).
app.conf.task_routes = {
    "workers.tasks.ping": {"queue": "default"},
    "workers.tasks.sweep_*": {"queue": "default"},
    "workers.tasks.integrity_refresh": {"queue": "default"},
    "workers.tasks.lti_*": {"queue": "default"},
    "workers.tasks.grade_submission": {"queue": "gpu"},
    "workers.tasks.generate": {"queue": "gpu"},
    "stride.ping": {"queue": "default"},
    "stride.sweep_*": {"queue": "default"},
    "stride.models.*": {"queue": "gpu"},
    "stride.diffusion.*": {"queue": "gpu"},
}
app.conf.beat_schedule = {
    "sweep-submissions": {"task": "workers.tasks.sweep_submissions", "schedule": 30.0, "options": {"queue": "default"}},
    "sweep-generations": {"task": "workers.tasks.sweep_generations", "schedule": 30.0, "options": {"queue": "default"}},
    "lti-scores-sweep": {"task": "workers.tasks.lti_scores_sweep", "schedule": 60.0, "options": {"queue": "default"}},
}
app.conf.worker_hijack_root_logger = False
app.autodiscover_tasks(["workers"], related_name="tasks")


@app.on_after_configure.connect
def _broker_folders(sender, **kwargs) -> None:
    """The filesystem broker needs its folders before the first message; a Redis broker gets
    kombu's Redis transport with an ack that cannot wedge the worker (workers/broker.py)."""
    if str(sender.conf.broker_url or "").startswith("redis://") and not sender.conf.broker_transport:
        sender.conf.broker_transport = "workers.broker:Transport"
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = str(sender.conf.result_backend or "")
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)


from celery.signals import beat_init, celeryd_init, worker_process_init, worker_process_shutdown  # noqa: E402


@celeryd_init.connect
@beat_init.connect
def _private_files(**kwargs) -> None:
    """A worker or beat writes only private files (umask 077): pictures, cached hidden sets, beat's
    schedule (which beat loads with pickle). Connected to the worker's and beat's start only: the
    web process imports this module too, and sets its own umask (config.wsgi, manage.py)."""
    from config.processes import private_files

    private_files()


@worker_process_init.connect
def _sandbox_start(**kwargs) -> None:
    """Each pool process starts its sandbox forkserver (Keras preloaded) in the background, so
    the first model does not pay the import. Non-blocking: Celery kills slow pool inits."""
    from workers.sandbox import sandbox_warm_up

    sandbox_warm_up()


@worker_process_shutdown.connect
def _sandbox_stop(**kwargs) -> None:
    # Pool processes exit without atexit: this is what removes the spare child and scratch.
    from workers.sandbox import sandbox_shutdown

    sandbox_shutdown()
