from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from exercises.authoring.course_files import CourseFileError, course_load


class Command(BaseCommand):
    help = "Load a course from its YAML folder (idempotent; students' attempts are kept). Without PATH, the built-in courses."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="a course folder (with course.yaml)")

    def handle(self, *args, path=None, **options):
        folders = [Path(path)] if path else sorted(p.parent for p in Path(settings.STRIDE_SEED_DIR).glob("*/course.yaml"))
        if not folders:
            raise CommandError("No course folder found.")
        for folder in folders:
            try:
                report = course_load(path=folder)
            except CourseFileError as exc:
                raise CommandError(f"{folder}: {exc}") from exc
            self.stdout.write(f"course {report.course.slug}: {report.exercises} exercises")
