"""The LTI endpoints (django-lti's views, on Stride's launch data store) and the teacher's pages.

Every message is validated by pylti1p3 (signature against the LMS's JWKS, ``iss``, ``aud`` =
the registered client id, ``exp``, the deployment id, the OIDC state) and its ``nonce`` is used
once (``storage``). A message that fails gets the error page with a 400 and an audit entry,
never a 500.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from lti_tool.models import Key, LtiLaunch
from lti_tool.utils import DjangoToolConfig, sync_data_from_launch
from lti_tool.views import OIDCLoginInitView

from courses.selectors import course_get_taught
from exercises.models import Exercise

from . import services
from .middleware import SESSION_FRAME
from .models import CourseContext, ScoreSync
from .storage import DatabaseLaunchDataStorage
from .tool import DeepLinkResource, DjangoMessageLaunch, DjangoOIDCLogin, LineItem, LtiException, OIDCException

log = logging.getLogger(__name__)

DEEP_LINK_SALT = "stride.lti.deep-link"
DEEP_LINK_MAX_AGE = 3600


def jwks(request):
    """The tool's public keys (JSON Web Key Set): the LMS checks Stride's signatures with them."""
    response = JsonResponse(Key.objects.as_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response


def refused(request, reason: str, *, claims: dict | None = None, course=None, status: int = 400) -> HttpResponse:
    """The clear error page of a refused LTI message, and its audit entry."""
    try:
        services.message_refusal_record(reason=reason, path=request.path, claims=claims, course=course)
    except Exception:  # the page must still answer if the audit cannot be written
        log.exception("could not record a refused LTI message")
    log.warning("LTI message refused: %s", reason)
    response = render(request, "lti/error.html", {"reason": reason}, status=status)
    response.xframe_options_exempt = True  # the page is shown inside the LMS
    return response


def _unverified_claims(request) -> dict:
    """The token's claims without checking them, only to say in the audit log what was refused."""
    import jwt

    token = request.POST.get("id_token", "")
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


class LoginView(OIDCLoginInitView):
    """OIDC third-party login initiation. Where the browser blocks the iframe's cookies,
    pylti1p3's check page offers to open Stride in a new tab."""

    def get_oidc_response(self, request, registration_uuid, params):
        self.main_msg = _("Your browser blocks the cookies Stride needs inside the LMS page. ")
        self.click_msg = _("Open Stride in a new tab.")
        self.loading_msg = _("Loading…")
        if not params.get("target_link_uri"):
            return refused(request, _("The LMS's login request names no target link (target_link_uri)."))
        oidc_login = DjangoOIDCLogin(request, DjangoToolConfig(registration_uuid),
                                     launch_data_storage=DatabaseLaunchDataStorage())
        try:
            return oidc_login.enable_check_cookies(self.main_msg, self.click_msg, self.loading_msg).redirect(
                self.get_redirect_url(params["target_link_uri"]))
        except (LtiException, OIDCException) as exc:
            return refused(request, _("The LMS's login request was refused: %(why)s") % {"why": exc})


def frame_ancestors_for(registration) -> list[str]:
    """The origins that may frame Stride for this LMS: its issuer's and its login page's."""
    origins = []
    for url in (registration.issuer, registration.auth_url):
        parts = urlsplit(url or "")
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in origins:
                origins.append(origin)
    return origins


@method_decorator((csrf_exempt, xframe_options_exempt), name="dispatch")
class LaunchView(View):
    """The resource link and deep linking launches (django-lti's LtiLaunchBaseView's flow, with
    every failure turned into the error page)."""

    def post(self, request, *args, **kwargs):
        tool_conf = DjangoToolConfig()
        message_launch = DjangoMessageLaunch(request, tool_conf, launch_data_storage=DatabaseLaunchDataStorage())
        try:
            message_launch.validate()
        except (LtiException, OIDCException) as exc:
            return refused(request, _("The LMS's launch message is not valid: %(why)s") % {"why": exc},
                           claims=_unverified_claims(request))
        except Exception as exc:  # a malformed token pylti1p3 did not expect: still a clear refusal
            log.warning("malformed LTI launch", exc_info=True)
            return refused(request, _("The LMS's launch message could not be read: %(why)s") % {"why": exc},
                           claims=_unverified_claims(request))
        # A valid launch is a new identity: whoever was logged in here before is logged out.
        request.session.flush()
        lti_launch = LtiLaunch(message_launch)
        claims = lti_launch.get_launch_data()
        if not tool_conf.deployment.is_active:
            return refused(request, _("This LMS deployment (%(id)s) is not activated in Stride.")
                           % {"id": tool_conf.deployment.deployment_id}, claims=claims, status=403)
        sync_data_from_launch(lti_launch)
        custom = lti_launch.get_claim("https://purl.imsglobal.org/spec/lti/claim/custom") or {}
        teacher = services.launch_is_instructor(lti_launch.roles_claim)
        try:
            link = services.course_for_context(context=lti_launch.context, custom=custom)
        except services.LaunchRefused:
            return refused(request, _("This LMS course is not linked to any Stride course: register the LMS with "
                                      "--course, or give the link a stride_course custom parameter."),
                           claims=claims, status=403)
        if lti_launch.is_deep_link_launch and not teacher:
            return refused(request, _("Only a teacher can place Stride content in the LMS."), claims=claims,
                           course=link.course, status=403)
        if not (lti_launch.is_deep_link_launch or lti_launch.is_resource_launch):
            return refused(request, _("Stride does not handle this kind of LTI message."), claims=claims,
                           course=link.course)
        user = services.user_for_lti(lti_user=lti_launch.user, teacher=teacher)
        services.enrollment_for_lti(course=link.course, user=user, teacher=teacher)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_FRAME] = frame_ancestors_for(lti_launch.registration)
        if lti_launch.is_deep_link_launch:
            return self.deep_linking_page(request, lti_launch, link)
        url, _exercise = services.launch_target(course=link.course, custom=custom)
        services.launch_line_item(link=link, custom=custom, ags=lti_launch.ags_claim,
                                  resource_link=lti_launch.resource_link)
        return HttpResponseRedirect(url)

    def deep_linking_page(self, request, lti_launch, link: CourseContext):
        course = link.course
        exercises = list(Exercise.objects.filter(course=course, deleted_at__isnull=True, published=True)
                         .order_by("position", "pk"))
        sections: dict[str, list] = {}
        for exercise in exercises:
            key = services.section_key(exercise)
            if key:
                entry = sections.setdefault(key, [exercise.section, 0.0])
                entry[1] += exercise.max_score
        token = signing.dumps({"launch": lti_launch.get_launch_id(), "link": link.pk}, salt=DEEP_LINK_SALT)
        return render(request, "lti/deep_linking.html", {
            "course": course, "exercises": exercises, "sections": [(key, title, total) for key, (title, total) in sections.items()], "token": token})


@csrf_exempt
@xframe_options_exempt
@require_POST
def deep_link_choose(request):
    """The teacher's pick, sent back to the LMS as a signed deep linking response. The form
    carries a signed, short-lived reference to the launch instead of relying on cookies, which
    an LMS's iframe may not send."""
    try:
        data = signing.loads(request.POST.get("token", ""), salt=DEEP_LINK_SALT, max_age=DEEP_LINK_MAX_AGE)
    except signing.BadSignature:
        return refused(request, _("This content picker has expired: open it again from the LMS."))
    try:
        launch = DjangoMessageLaunch.from_cache(data["launch"], request, DjangoToolConfig(),
                                                launch_data_storage=DatabaseLaunchDataStorage())
    except LtiException:
        return refused(request, _("This content picker has expired: open it again from the LMS."))
    if not launch.is_deep_link_launch():
        return refused(request, _("Stride does not handle this kind of LTI message."))
    link = get_object_or_404(CourseContext.objects.select_related("course"), pk=data["link"])
    choice = request.POST.get("item", "")
    launch_url = request.build_absolute_uri(_launch_path())
    kind, _sep, value = choice.partition(":")
    resource = DeepLinkResource()
    if kind == "exercise" and value.isdigit():
        exercise = Exercise.objects.filter(pk=int(value), course=link.course, deleted_at__isnull=True).first()
        if exercise is None:
            raise Http404
        line_item = (LineItem().set_label(exercise.title[:255]).set_score_maximum(exercise.max_score)
                     .set_resource_id(services.exercise_resource_id(exercise)))
        resource.set_url(launch_url).set_title(exercise.title).set_lineitem(line_item).set_custom_params(
            {"stride_exercise": str(exercise.pk), "stride_course": link.course.slug})
    elif kind == "section" and value:
        exercises = [e for e in Exercise.objects.filter(course=link.course, deleted_at__isnull=True, published=True)
                     if services.section_key(e) == value]
        if not exercises:
            raise Http404
        maximum = sum(e.max_score for e in exercises)
        line_item = (LineItem().set_label(value[:255]).set_score_maximum(maximum)
                     .set_resource_id(services.section_resource_id(link.course, value)))
        resource.set_url(launch_url).set_title(exercises[0].section).set_lineitem(line_item).set_custom_params(
            {"stride_section": value, "stride_course": link.course.slug})
    else:
        return refused(request, _("Pick an exercise or a section."), course=link.course)
    html = launch.get_deep_link().output_response_form([resource])
    return HttpResponse(html)


def _launch_path() -> str:
    from django.urls import reverse

    return reverse("lti:launch")


@login_required
def course_scores(request, slug: str):
    """For the course's teachers: per student and line item, whether the LMS has the gradebook's
    latest score, with a button to send it again; and the roster sync."""
    course = course_get_taught(user=request.user, slug=slug)
    rows = services.score_rows(course=course)
    links = CourseContext.objects.filter(course=course).select_related("context")
    return render(request, "lti/scores.html", {"course": course, "rows": rows, "links": links})


@login_required
@require_POST
def score_resend(request, slug: str, sync_id: int):
    course = course_get_taught(user=request.user, slug=slug)
    sync = get_object_or_404(ScoreSync.objects.select_related("link__course", "exercise", "user"), pk=sync_id,
                             link__course=course)
    services.score_resend(sync=sync, actor=request.user)
    return redirect("lti:scores", slug=course.slug)


@login_required
@require_POST
def roster_sync(request, slug: str, link_id: int):
    course = course_get_taught(user=request.user, slug=slug)
    link = get_object_or_404(CourseContext.objects.select_related("context", "course"), pk=link_id, course=course)
    grain = request.POST.get("grain")
    if grain in CourseContext.Grain.values and grain != link.grain:
        CourseContext.objects.filter(pk=link.pk).update(grain=grain)
    if request.POST.get("roster"):
        services.roster_sync_request(link=link, actor=request.user)
    return redirect("lti:scores", slug=course.slug)
