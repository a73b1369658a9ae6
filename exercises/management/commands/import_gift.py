from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.models import Course
from exercises.authoring.gift import GiftError, gift_import


class Command(BaseCommand):
    help = "Import a Moodle GIFT quiz file as exercises at the end of a course (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("course", help="the course's slug")
        parser.add_argument("file", help="a .gift file (UTF-8)")

    def handle(self, *args, course, file, **options):
        target = Course.objects.filter(slug=course).first()
        if target is None:
            raise CommandError(f"no course with the slug {course!r}")
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read the file ({exc})") from exc
        try:
            created = gift_import(course=target, text=text)
        except GiftError as exc:
            lines = "\n".join(f"line {line}: {message}" for line, message in exc.errors)
            raise CommandError(f"{file}: nothing imported\n{lines}") from exc
        self.stdout.write(f"course {target.slug}: {len(created)} questions imported")
