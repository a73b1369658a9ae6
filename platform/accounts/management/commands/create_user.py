from django.core.management.base import BaseCommand, CommandError

from accounts.roles import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create or update a user with a role, optionally enrolled in a course."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--course", help="slug of a course to enrol the user in (as student or teacher)")
        parser.add_argument("--password", help="password; a random one is generated and printed if omitted")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, course, password, email, **options):
        from courses.models import Course
        from courses.services import enrollment_add

        course_obj = None
        if course:
            course_obj = Course.objects.filter(slug=course).first()
            if course_obj is None:
                raise CommandError(f"No course with slug {course!r}. Load it first: manage.py load_course")
        user, pw = user_create(username=username, role=Role(role), password=password, email=email)
        if course_obj is not None:
            enrollment_add(course=course_obj, user=user, role=Role(role))
        where = f" in course {course}" if course_obj else ""
        self.stdout.write(f"user {username} ({role}){where}, password: {pw}")
