from django.core.management.base import BaseCommand

from accounts.roles import Role
from accounts.services import user_create
from courses.models import Course
from courses.services import enrollment_add

# Demo accounts for a local first run. Never run this against a real deployment.
DEMO_ACCOUNTS = [
    ("student", Role.STUDENT, "stride-student"),
    ("teacher", Role.TEACHER, "stride-teacher"),
    ("admin", Role.ADMIN, "stride-admin"),
]


class Command(BaseCommand):
    help = "Create the demo student, teacher and admin, enrolled in every course, and print their passwords."

    def handle(self, *args, **options):
        courses = list(Course.objects.all())
        for username, role, password in DEMO_ACCOUNTS:
            user, _ = user_create(username=username, role=role, password=password)
            for course in courses:
                enrollment_add(course=course, user=user, role=role)
            self.stdout.write(f"  {role.value:8} login: {username:8} password: {password}")
