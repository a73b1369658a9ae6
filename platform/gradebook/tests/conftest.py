import pytest
from django.core.management import call_command


@pytest.fixture
def course():
    """The built-in course, loaded from its YAML folder."""
    from courses.models import Course

    call_command("load_course", verbosity=0)
    return Course.objects.get(slug="cnn-diffusion")
