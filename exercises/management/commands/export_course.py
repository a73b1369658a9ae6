from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.models import Course
from exercises.authoring.course_files import course_export


class Command(BaseCommand):
    help = "Export a course to a YAML folder that load_course reads back."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("path")

    def handle(self, *args, slug, path, **options):
        course = Course.objects.filter(slug=slug).first()
        if course is None:
            raise CommandError(f"No course with slug {slug!r}.")
        n = course_export(course=course, path=Path(path))
        self.stdout.write(f"course {slug}: {n} exercises written to {path}")
