from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.models import Course
from exercises.authoring.gift import GiftError, gift_import


class Command(BaseCommand):
    help = ("Import a Moodle GIFT quiz file into a course (all or nothing). Questions imported before are "
            "updated, not copied; new ones are added hidden until a teacher publishes them.")

    def add_arguments(self, parser):
        parser.add_argument("course", help="the course's slug")
        parser.add_argument("file", help="a .gift file (UTF-8)")
        parser.add_argument("--dry-run", action="store_true", help="say what would be added or changed, save nothing")

    def handle(self, *args, course, file, dry_run=False, **options):
        target = Course.objects.filter(slug=course).first()
        if target is None:
            raise CommandError(f"no course with the slug {course!r}")
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read the file ({exc})") from exc
        try:
            report = gift_import(course=target, text=text, dry_run=dry_run)
        except GiftError as exc:
            lines = "\n".join(f"line {line}: {message}" for line, message in exc.errors)
            raise CommandError(f"{file}: nothing imported\n{lines}") from exc
        done = "would be imported (dry run)" if dry_run else "imported"
        self.stdout.write(
            f"course {target.slug}: {len(report.added) + len(report.changed)} questions {done}: "
            f"{len(report.added)} added (hidden until published), {len(report.changed)} changed, "
            f"{len(report.unchanged)} unchanged")
