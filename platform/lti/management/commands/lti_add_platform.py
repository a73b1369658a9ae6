"""manage.py lti_add_platform: register an LMS and print the URLs to paste into it."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from courses.models import Course
from lti import services


class Command(BaseCommand):
    help = "Register an LTI 1.3 platform (an LMS) and print the tool's URLs to paste into the LMS."

    def add_arguments(self, parser):
        parser.add_argument("--issuer", required=True, help="The LMS's issuer (iss), e.g. https://moodle.example.org")
        parser.add_argument("--client-id", required=True, help="The client ID the LMS gave Stride")
        parser.add_argument("--deployment-id", required=True, help="The deployment ID the LMS gave Stride")
        parser.add_argument("--auth-url", required=True, help="The LMS's OIDC authentication URL")
        parser.add_argument("--token-url", required=True, help="The LMS's OAuth2 access token URL")
        parser.add_argument("--jwks-url", required=True, help="The LMS's public keyset URL")
        parser.add_argument("--course", help="The Stride course (slug) that the LMS's courses land in")
        parser.add_argument("--name", default="", help="A name for this LMS (default: the issuer)")
        parser.add_argument("--base-url", default=None, help="Stride's public URL (default: STRIDE_PUBLIC_URL)")

    def handle(self, *args, **options):
        check = URLValidator(schemes=["http", "https"])
        for option in ("auth_url", "token_url", "jwks_url"):
            try:
                check(options[option])
            except ValidationError:
                raise CommandError(f"--{option.replace('_', '-')} is not an http(s) URL: {options[option]!r}")
        for option in ("issuer", "client_id", "deployment_id"):
            if not options[option].strip():
                raise CommandError(f"--{option.replace('_', '-')} is empty")
        course = None
        if options["course"]:
            course = Course.objects.filter(slug=options["course"]).first()
            if course is None:
                known = ", ".join(Course.objects.values_list("slug", flat=True)) or "none"
                raise CommandError(f"No course {options['course']!r} (courses: {known}).")
        registration = services.platform_register(
            issuer=options["issuer"].strip(), client_id=options["client_id"].strip(),
            deployment_id=options["deployment_id"].strip(), auth_url=options["auth_url"], token_url=options["token_url"],
            jwks_url=options["jwks_url"], course=course, name=options["name"])
        urls = services.tool_urls(base_url=options["base_url"])
        self.stdout.write(f"platform {registration.issuer} (client {registration.client_id}) registered"
                          + (f", course {course.slug}" if course else ""))
        self.stdout.write("Paste these into the LMS's tool configuration:")
        self.stdout.write(f"  OIDC login URL (initiate login): {urls['login']}")
        self.stdout.write(f"  Launch URL (redirect URI):       {urls['launch']}")
        self.stdout.write(f"  Public keyset URL (JWKS):        {urls['jwks']}")
        self.stdout.write(f"  Deep linking URL:                {urls['deep_linking']}")
