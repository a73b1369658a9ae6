"""An LMS page frames Stride (LTI 1.3): chromium follows the whole launch inside the iframe (the
platform's login initiation, Stride's cookie check page and its JavaScript, the platform's
authorization, the signed id_token posted by the platform's form) and lands on the exercise,
which Stride lets that LMS, and only it, frame."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.lti import lti_platform

pytestmark = pytest.mark.django_db(transaction=True)


def test_launch_inside_the_lms_iframe(page, live_server, tmp_path, artifacts):
    call_command("load_course", verbosity=0)
    from exercises.models import Exercise

    exercise = Exercise.objects.filter(course__slug="cnn-diffusion", type="output_size").order_by("pk").first()
    tool = live_server.url.replace("localhost", "127.0.0.1")  # the LMS and Stride: two origins of one site
    with lti_platform(tool, tmp_path) as platform:
        call_command("lti_add_platform", *platform.register_args(), "--base-url", tool, verbosity=0)
        page.goto(f"{platform.base}/frame?user=u-frame&role=Learner&custom=%7B%22stride_exercise%22%3A%20%22{exercise.pk}%22%7D")
        frame = page.frame_locator("#lms-frame")
        frame.locator("h1").filter(has_text=exercise.title).wait_for()
        # Inside a frame, Stride offers its own tab (the way out when a browser blocks the frame's cookies).
        assert frame.locator("#lti-new-tab").is_visible()
        inner = next(f for f in page.frames if f.url.startswith(tool))
        assert inner.url.endswith(f"/exercises/{exercise.pk}/")
        page.screenshot(path=str(artifacts / "lti-iframe-launch.png"))


def test_blocked_iframe_cookies_offer_a_new_tab_that_completes_the_launch(page, live_server, tmp_path):
    """The LMS on another site (localhost) than Stride (127.0.0.1): the iframe is a third-party
    context whose cookies a browser blocks over plain HTTP. Stride's login page says so, in
    French, and its link opens the launch in a tab of its own, where it completes."""
    call_command("load_course", verbosity=0)
    from exercises.models import Exercise

    exercise = Exercise.objects.filter(course__slug="cnn-diffusion", type="output_size").order_by("pk").first()
    tool = live_server.url.replace("localhost", "127.0.0.1")
    with lti_platform(tool, tmp_path) as platform:
        call_command("lti_add_platform", *platform.register_args(), "--base-url", tool, verbosity=0)
        lms = platform.base.replace("127.0.0.1", "localhost")
        page.goto(f"{lms}/frame?user=u-tab&role=Learner&custom=%7B%22stride_exercise%22%3A%20%22{exercise.pk}%22%7D")
        link = page.frame_locator("#lms-frame").locator("#lti1p3-new-tab-link")
        link.wait_for()
        assert "Ouvrir Stride dans un nouvel onglet" in link.inner_text()
        with page.expect_popup() as popup_info:
            link.click()
        popup = popup_info.value
        popup.wait_for_url(f"{tool}/exercises/{exercise.pk}/")
        assert popup.locator("h1").filter(has_text=exercise.title).count() == 1
        popup.close()


def test_a_teacher_places_an_exercise_from_the_lms_content_picker(page, live_server, tmp_path, artifacts):
    """Deep linking in the browser: the LMS opens Stride's picker in its frame, the teacher picks
    an exercise, and the signed response goes back to the LMS, which shows the item placed."""
    call_command("load_course", verbosity=0)
    from exercises.models import Exercise

    exercise = Exercise.objects.filter(course__slug="cnn-diffusion", type="output_size").order_by("pk").first()
    tool = live_server.url.replace("localhost", "127.0.0.1")
    with lti_platform(tool, tmp_path) as platform:
        call_command("lti_add_platform", *platform.register_args(), "--base-url", tool, verbosity=0)
        page.goto(f"{platform.base}/frame?user=t-pick&role=Instructor&message=deeplink")
        frame = page.frame_locator("#lms-frame")
        frame.locator("#deep-link-form").wait_for()
        page.screenshot(path=str(artifacts / "lti-deep-linking.png"), full_page=True)
        frame.locator(f'input[value="exercise:{exercise.pk}"]').check()
        frame.locator("#deep-link-form button[type=submit]").click()
        frame.locator("#done").wait_for()
        placed = platform.state()["deep_links"][-1]
        assert placed["custom"]["stride_exercise"] == str(exercise.pk)
        assert placed["lineItem"]["scoreMaximum"] == exercise.max_score
        # The teacher's page of LMS grades, as the teacher (launched by the LMS) sees it.
        page.goto(f"{tool}/lti/courses/cnn-diffusion/scores/")
        page.locator("#lti-scores").wait_for()
        page.screenshot(path=str(artifacts / "lti-scores.png"), full_page=True)
