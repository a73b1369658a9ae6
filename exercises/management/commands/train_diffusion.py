"""``manage.py train_diffusion``: train Stride's diffusion model (``grader.diffusion.train``).

Reproducible from ``--seed``, resumable (run it again with the same settings and the same
``--out`` after a stop), with a progress bar. ``--export`` writes the weights a worker loads;
the shipped ones live in ``grader/diffusion/weights``. TensorFlow is the default backend; set
``KERAS_BACKEND=jax`` on a GPU machine.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Train the diffusion model from a seed, resuming from the checkpoint in --out."

    def add_arguments(self, parser):
        from grader.diffusion.train import TrainConfig

        parser.add_argument("--out", type=Path, required=True, help="working folder: checkpoints and logs")
        parser.add_argument("--export", type=Path, help="folder to write the final weights to "
                                                        "(grader/diffusion/weights replaces the shipped model)")
        parser.add_argument("--max-seconds", type=float, help="stop cleanly after this long (resume later)")
        parser.add_argument("--no-progress", action="store_true", help="log lines instead of a progress bar")
        for name, value in asdict(TrainConfig()).items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value, dest=name)

    def handle(self, *args, **options):
        from grader.diffusion.train import TrainConfig, export, train

        config = TrainConfig(**{name: options[name] for name in asdict(TrainConfig())})
        summary = train(options["out"], config, max_seconds=options["max_seconds"],
                        log=lambda line: self.stdout.write(line), progress=not options["no_progress"])
        self.stdout.write(f"trained {summary['steps_done']} of {config.steps} steps in {summary['seconds']:.0f} s")
        if options["export"]:
            path = export(options["out"], summary, options["export"])
            self.stdout.write(self.style.SUCCESS(f"weights written to {path}"))
