"""Stride as an LTI 1.3 tool: registration, launches, grade passback (AGS), roster (NRPS).

Every call to the LMS (a score, a line item, the roster) runs in a task on the ``default``
queue (``workers.tasks.lti_*``), never in a web request; the web side only records what must be
sent (a ``ScoreSync`` row) and sends the task after the commit.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from lti_tool.models import Key, LtiContext, LtiDeployment, LtiLineItem, LtiMembership, LtiRegistration, LtiUser

from accounts.roles import Role, roles_ensure_groups, user_role
from config.prepared import prepared
from courses.models import Course, Enrollment
from exercises.engine.visibility import visibility_for
from exercises.jobs import send_light_task
from exercises.models import Attempt, Exercise

from .models import CourseContext, PlatformCourse, ScoreSync
from .tool import AssignmentsGradesService, Grade, LineItem, LtiException, NamesRolesProvisioningService, ServiceConnector

log = logging.getLogger(__name__)

# The tasks (workers.tasks) by name: the web side never imports workers.
SCORE_SEND_TASK = "workers.tasks.lti_score_send"
SCORES_SWEEP_TASK = "workers.tasks.lti_scores_sweep"
ROSTER_SYNC_TASK = "workers.tasks.lti_roster_sync"

AGS_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
AGS_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
AGS_RESULT = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
AGS_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
ROLE_INSTRUCTOR = ("Instructor", "Administrator", "ContentDeveloper", "TeachingAssistant")


class LaunchRefused(Exception):
    """A launch that is valid LTI but that Stride cannot serve (no course for the context...)."""


# --- Registration ----------------------------------------------------------------------------

def tool_urls(*, base_url: str | None = None) -> dict[str, str]:
    """The URLs an LMS administrator pastes into the LMS (docs/lti.md)."""
    base = (base_url or settings.STRIDE_PUBLIC_URL).rstrip("/")
    return {
        "login": base + reverse("lti:login"),
        "launch": base + reverse("lti:launch"),
        "jwks": base + reverse("lti:jwks"),
        "deep_linking": base + reverse("lti:launch"),
    }


def tool_key_ensure() -> Key:
    """The key the tool signs with (service tokens, deep linking responses): made once here,
    rotated with ``manage.py rotate_keys`` (django-lti), served at /lti/jwks/."""
    key = Key.objects.active().order_by("-datetime_created").first()
    return key or Key.objects.generate()


@transaction.atomic
def platform_register(*, issuer: str, client_id: str, deployment_id: str, auth_url: str, token_url: str,
                      jwks_url: str, course: Course | None = None, name: str = "") -> LtiRegistration:
    """Register an LMS (idempotent on issuer and client id) and activate its deployment."""
    registration, _ = LtiRegistration.objects.update_or_create(
        issuer=issuer, client_id=client_id,
        defaults={"name": name or issuer, "auth_url": auth_url, "token_url": token_url, "keyset_url": jwks_url,
                  "is_active": True},
    )
    LtiDeployment.objects.update_or_create(registration=registration, deployment_id=deployment_id,
                                           defaults={"is_active": True})
    PlatformCourse.objects.update_or_create(registration=registration, defaults={"course": course})
    tool_key_ensure()
    return registration


# --- Launch ----------------------------------------------------------------------------------

def _short_role(role: str) -> str:
    return role.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def launch_is_instructor(roles: list[str] | None) -> bool:
    """Instructor (and the LMS's other teaching roles) → teacher; anyone else (Learner) → student.
    Context roles only: an institution-wide "Administrator" of the LMS is not a teacher here."""
    for role in roles or []:
        if "/institution/" in role or "/system/" in role:
            continue
        if _short_role(role) in ROLE_INSTRUCTOR:
            return True
    return False


def _username_for(lti_user: LtiUser) -> str:
    digest = hashlib.sha256(f"{lti_user.registration.issuer}\n{lti_user.sub}".encode()).hexdigest()[:16]
    return f"lti-{digest}"


def user_for_lti(*, lti_user: LtiUser, teacher: bool):
    """The Stride account of an LMS user: matched by (issuer, client, ``sub``), which django-lti
    keeps in ``LtiUser``, never by e-mail (two LMSs may both have a "marie@..."), else created
    without a password (such a user only ever comes in through the LMS)."""
    roles_ensure_groups()
    user = lti_user.auth_user
    if user is None:
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username=_username_for(lti_user),
            defaults={"first_name": lti_user.given_name[:150], "last_name": lti_user.family_name[:150],
                      "email": lti_user.email},
        )
        if user.has_usable_password():
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=Role.STUDENT.value))
        lti_user.auth_user = user
        lti_user.save(update_fields=["auth_user", "datetime_modified"])
    else:
        changed = {f: v[:150] for f, v in (("first_name", lti_user.given_name), ("last_name", lti_user.family_name)) if v}
        if any(getattr(user, f) != v for f, v in changed.items()):
            for f, v in changed.items():
                setattr(user, f, v)
            user.save(update_fields=list(changed))
    if teacher and user_role(user) == Role.STUDENT:
        user.groups.add(Group.objects.get(name=Role.TEACHER.value))
        user._stride_role = None
    return user


def course_for_context(*, context: LtiContext, custom: dict | None) -> CourseContext:
    """The Stride course of an LMS context: the one linked already, else the course the link
    names (custom ``stride_course``), else the registration's default course."""
    link = CourseContext.objects.filter(context=context).select_related("course").first()
    if link is not None:
        return link
    slug = (custom or {}).get("stride_course")
    course = Course.objects.filter(slug=slug).first() if slug else None
    if course is None:
        default = PlatformCourse.objects.filter(registration=context.deployment.registration).select_related("course").first()
        course = default.course if default else None
    if course is None:
        raise LaunchRefused("no course")
    link, _ = CourseContext.objects.get_or_create(context=context, defaults={"course": course})
    return link


def enrollment_for_lti(*, course: Course, user, teacher: bool) -> Enrollment:
    role = Enrollment.Role.TEACHER if teacher else Enrollment.Role.STUDENT
    enrollment, created = Enrollment.objects.get_or_create(course=course, user=user,
                                                           defaults={"role": role, "is_active": True})
    if not created and (enrollment.role != role or not enrollment.is_active):
        # The LMS is the authority on its members' roles in the course it links.
        enrollment.role, enrollment.is_active = role, True
        enrollment.save(update_fields=["role", "is_active"])
    return enrollment


def launch_target(*, course: Course, custom: dict | None) -> tuple[str, Exercise | None]:
    """Where a resource link lands: its exercise (custom ``stride_exercise``), its section
    (``stride_section``, the course page at that section), else the course page."""
    custom = custom or {}
    exercise_id = str(custom.get("stride_exercise", "")).strip()
    if exercise_id.isdigit():
        exercise = Exercise.objects.filter(pk=int(exercise_id), course=course, deleted_at__isnull=True).first()
        if exercise is not None:
            return reverse("exercises:detail", args=[exercise.pk]), exercise
    url = reverse("courses:detail", args=[course.slug])
    return url, None


def launch_line_item(*, link: CourseContext, custom: dict | None, ags: dict | None, resource_link=None) -> None:
    """A link the LMS made with its own line item (deep linking's ``lineItem``) names it in the
    launch: remember it for its exercise or section, so that their grades go there and no lookup
    is needed when the first score is sent."""
    url = (ags or {}).get("lineitem")
    custom = custom or {}
    if not url:
        return
    course = link.course
    exercise_id = str(custom.get("stride_exercise", "")).strip()
    section = str(custom.get("stride_section", "")).strip()
    if exercise_id.isdigit():
        exercise = Exercise.objects.filter(pk=int(exercise_id), course=course).first()
        if exercise is None:
            return
        label, maximum, resource_id = exercise.title, exercise.max_score, exercise_resource_id(exercise)
    elif section:
        exercises = [e for e in Exercise.objects.filter(course=course, deleted_at__isnull=True, published=True)
                     if section_key(e) == section]
        if not exercises:
            return
        label, maximum, resource_id = section, sum(e.max_score for e in exercises), section_resource_id(course, section)
    else:
        return
    LtiLineItem.objects.update_or_create(
        url=url, defaults={"context": link.context, "maximum_score": maximum, "label": label[:255],
                           "resource_id": resource_id, "resource_link": resource_link})


# --- Refusals --------------------------------------------------------------------------------

def message_refusal_record(*, reason: str, path: str, claims: dict | None = None, course: Course | None = None) -> None:
    """An LTI message Stride refused, in the audit log (the course when one is known)."""
    from gradebook.models import AuditLog

    claims = claims or {}
    keep = {k: claims.get(k) for k in ("iss", "aud", "sub", "nonce", "exp") if claims.get(k) is not None}
    AuditLog.objects.create(actor=None, action=AuditLog.Action.LTI_REFUSED, course=course,
                            new={"path": path, **{k: str(v)[:200] for k, v in keep.items()}}, comment=reason[:2000])


# --- Grade passback (AGS) ---------------------------------------------------------------------

def exercise_resource_id(exercise: Exercise) -> str:
    return f"stride-exercise-{exercise.pk}"


def section_resource_id(course: Course, section: str) -> str:
    return f"stride-section-{course.pk}-{hashlib.sha256(section.encode()).hexdigest()[:12]}"


def section_key(exercise: Exercise) -> str:
    """A section's stable name, whatever the page's language: its title in French."""
    return (exercise.section_i18n or {}).get("fr") or exercise.section


def _targets_for(link: CourseContext, exercise: Exercise) -> list[tuple[str, Exercise | None]]:
    """The line items an exercise's grade goes to in one LMS course: its own or its section's,
    as the teacher chose (``grain``); and a section or exercise the teacher placed in the LMS by
    deep linking has its own line item there, which gets its grades whatever the choice."""
    section = section_key(exercise)
    exercise_target = (f"exercise:{exercise.pk}", exercise)
    section_target = (f"section:{section}", None)
    targets = [section_target if link.grain == CourseContext.Grain.SECTION and section else exercise_target]
    placed = set(LtiLineItem.objects.filter(context=link.context).values_list("resource_id", flat=True))
    if exercise_resource_id(exercise) in placed and exercise_target not in targets:
        targets.append(exercise_target)
    if section and section_resource_id(exercise.course, section) in placed and section_target not in targets:
        targets.append(section_target)
    return targets


_course_linked = prepared(lambda *, exercise_id: CourseContext.objects.filter(course__exercises__pk=exercise_id)
                          .order_by().values_list("pk")[:1])


def scores_request(*, exercise_id: int, user_ids: list[int] | None = None) -> list[int]:
    """Record that the LMS must get these students' new score on this exercise, and send a task
    per score. Nothing when the exercise's course is not linked to any LMS context."""
    # Every attempt asks (signals.attempt_saved): one query, compiled once, for the usual answer,
    # a course that no LMS links.
    if not _course_linked.first(exercise_id=int(exercise_id)):
        return []
    exercise = Exercise.objects.filter(pk=exercise_id).select_related("course").first()
    if exercise is None:
        return []
    links = list(CourseContext.objects.filter(course_id=exercise.course_id).select_related("context"))
    ids = []
    for link in links:
        memberships = LtiMembership.objects.filter(context=link.context, user__auth_user__isnull=False, is_learner=True,
                                                   is_active=True)
        if user_ids is not None:
            memberships = memberships.filter(user__auth_user_id__in=user_ids)
        targets = _targets_for(link, exercise)
        for membership in memberships.select_related("user"):
            for target, target_exercise in targets:
                with transaction.atomic():
                    sync, _ = ScoreSync.objects.select_for_update().get_or_create(
                        link=link, lti_user=membership.user, target=target,
                        defaults={"user_id": membership.user.auth_user_id, "exercise": target_exercise})
                    sync.status, sync.requested_at, sync.tries, sync.error = ScoreSync.Status.PENDING, timezone.now(), 0, ""
                    sync.save(update_fields=["status", "requested_at", "tries", "error"])
                ids.append(sync.pk)
    for pk in ids:
        send_light_task(SCORE_SEND_TASK, pk)
    return ids


def scores_request_on_commit(*, exercise_id: int, user_ids: list[int] | None = None) -> None:
    transaction.on_commit(lambda: scores_request(exercise_id=exercise_id, user_ids=user_ids))


def _grade_of(exercise: Exercise, user) -> float | None:
    """THE grade (``exercises.engine.selectors.grade_overrides``): the teacher's override, else
    the best attempt; in [0, 1]."""
    from exercises.engine.selectors import grade_overrides

    overrides = grade_overrides(exercises=[exercise], user_ids=[user.pk])
    if (user.pk, exercise.pk) in overrides:
        return overrides[(user.pk, exercise.pk)]
    return Attempt.objects.filter(exercise=exercise, user=user).aggregate(best=Max("score"))["best"]


@dataclass(frozen=True)
class Score:
    given: float | None  # None: nothing to send (no attempt yet)
    maximum: float
    released: bool  # False: the release date has not come (THE visibility rule)
    label: str
    resource_id: str


def score_for(sync: ScoreSync) -> Score:
    """The score the gradebook shows for this row, in the line item's points."""
    user = sync.user
    if sync.exercise_id:
        exercise = sync.exercise
        grade = _grade_of(exercise, user)
        released = visibility_for(viewer=user, exercise=exercise).score
        return Score(given=None if grade is None else round(grade * exercise.max_score, 6), maximum=exercise.max_score,
                     released=released, label=exercise.title[:255], resource_id=exercise_resource_id(exercise))
    section = sync.target.split(":", 1)[1]
    course = sync.link.course
    exercises = [e for e in Exercise.objects.filter(course=course, deleted_at__isnull=True, published=True)
                 if section_key(e) == section]
    given, maximum, any_released = 0.0, 0.0, False
    for exercise in exercises:
        maximum += exercise.max_score
        if not visibility_for(viewer=user, exercise=exercise).score:
            continue  # never a score before its release date, not even inside a total
        any_released = True
        grade = _grade_of(exercise, user)
        given += (grade or 0.0) * exercise.max_score
    return Score(given=round(given, 6), maximum=maximum, released=any_released, label=section[:255],
                 resource_id=section_resource_id(course, section))


class ScoreSendError(Exception):
    """The LMS did not take the score this time (down, refused): the task retries with backoff."""


def _scopes(context: LtiContext) -> list[str]:
    scopes = []
    if context.can_manage_lineitems:
        scopes.append(AGS_LINEITEM)
    elif context.can_query_lineitems:
        scopes.append(AGS_LINEITEM_READONLY)
    if context.can_access_results:
        scopes.append(AGS_RESULT)
    if context.can_publish_scores:
        scopes.append(AGS_SCORE)
    return scopes


def _ags(context: LtiContext, lineitem_url: str | None = None) -> AssignmentsGradesService:
    registration = context.deployment.registration.to_registration()
    data = {"scope": _scopes(context), "lineitems": context.lineitems_url}
    if lineitem_url:
        data["lineitem"] = lineitem_url
    return AssignmentsGradesService(ServiceConnector(registration), data)


def _line_item(sync: ScoreSync, score: Score, ags: AssignmentsGradesService) -> LtiLineItem:
    context = sync.link.context
    known = LtiLineItem.objects.filter(context=context, resource_id=score.resource_id).order_by("-pk").first()
    if known is not None:
        return known
    if not context.lineitems_url:
        raise ScoreSendError("the LMS gave no line items service for this course")
    wanted = (LineItem().set_label(score.label).set_score_maximum(score.maximum).set_resource_id(score.resource_id)
              .set_tag(score.resource_id))
    found = ags.find_or_create_lineitem(wanted, find_by="resource_id")
    item, _ = LtiLineItem.objects.update_or_create(
        url=found.get_id(), defaults={"context": context, "maximum_score": found.get_score_maximum() or score.maximum,
                                      "label": score.label, "resource_id": score.resource_id})
    return item


def score_send(*, sync_id: int) -> str:
    """Send one student's score on one line item to the LMS (the task's body). Returns the new
    status. Raises ScoreSendError when the LMS could not be reached or refused: the task retries."""
    sync = ScoreSync.objects.filter(pk=sync_id).select_related("link__context__deployment__registration",
                                                                 "link__course", "lti_user", "user", "exercise").first()
    if sync is None:
        return "gone"
    score = score_for(sync)
    if not score.released:
        ScoreSync.objects.filter(pk=sync.pk).update(status=ScoreSync.Status.HELD)
        return ScoreSync.Status.HELD
    if score.given is None:
        ScoreSync.objects.filter(pk=sync.pk).update(status=ScoreSync.Status.SENT, error="")
        return "nothing"
    requested_at = sync.requested_at
    ScoreSync.objects.filter(pk=sync.pk).update(tries=sync.tries + 1)
    try:
        ags = _ags(sync.link.context)
        item = _line_item(sync, score, ags)
        grade = (Grade().set_score_given(score.given).set_score_maximum(score.maximum)
                 .set_timestamp(timezone.now().isoformat(timespec="microseconds"))
                 .set_activity_progress("Completed").set_grading_progress("FullyGraded").set_user_id(sync.lti_user.sub))
        ags.put_grade(grade, LineItem({"id": item.url}))
    except (LtiException, OSError, ValueError, KeyError) as exc:
        # requests' errors are OSErrors; an LMS answering with a non-JSON body is a ValueError.
        ScoreSync.objects.filter(pk=sync.pk).update(error=str(exc)[:2000])
        raise ScoreSendError(str(exc)) from exc
    # A newer request may have come while this one was in flight: it stays pending, and its own
    # task sends the newer figure.
    ScoreSync.objects.filter(pk=sync.pk, requested_at=requested_at).update(
        status=ScoreSync.Status.SENT, error="", line_item=item)
    ScoreSync.objects.filter(pk=sync.pk).update(sent_score=score.given, sent_maximum=score.maximum,
                                                sent_at=timezone.now(), line_item=item)
    return ScoreSync.Status.SENT


def score_send_failed(*, sync_id: int, reason: str) -> None:
    ScoreSync.objects.filter(pk=sync_id).update(status=ScoreSync.Status.FAILED, error=reason[:2000])


def scores_sweep() -> dict:
    """Beat's job: send the scores held until their release date once it has come, and the
    pending ones whose message was lost."""
    held = list(ScoreSync.objects.filter(status=ScoreSync.Status.HELD).values_list("pk", flat=True))
    lost = list(ScoreSync.objects.filter(status=ScoreSync.Status.PENDING,
                                         requested_at__lt=timezone.now() - timedelta(minutes=10)).values_list("pk", flat=True))
    for pk in held + lost:
        send_light_task(SCORE_SEND_TASK, pk)
    from .storage import launch_values_purge

    return {"held": len(held), "lost": len(lost), "launch_values_purged": launch_values_purge()}


def score_resend(*, sync: ScoreSync, actor) -> None:
    """A teacher sends a score again (the gradebook's "resend"), recorded in the audit log."""
    from gradebook.models import AuditLog

    ScoreSync.objects.filter(pk=sync.pk).update(status=ScoreSync.Status.PENDING, requested_at=timezone.now(), tries=0,
                                                error="")
    AuditLog.objects.create(actor=actor, action=AuditLog.Action.LTI_RESEND, course=sync.link.course,
                            exercise=sync.exercise, student=sync.user, new={"target": sync.target})
    transaction.on_commit(lambda: send_light_task(SCORE_SEND_TASK, sync.pk))


@dataclass(frozen=True)
class ScoreRow:
    sync: ScoreSync
    current: Score

    @property
    def up_to_date(self) -> bool:
        """The LMS has the gradebook's latest figure."""
        if not self.current.released:
            return False
        if self.current.given is None:
            return True
        return (self.sync.sent_score is not None and abs(self.sync.sent_score - self.current.given) < 1e-6
                and self.sync.status == ScoreSync.Status.SENT)


def score_rows(*, course: Course) -> list[ScoreRow]:
    rows = (ScoreSync.objects.filter(link__course=course)
            .select_related("link__context", "link__course", "lti_user", "user", "exercise", "line_item")
            .order_by("user__last_name", "user__username", "target"))
    return [ScoreRow(sync=s, current=score_for(s)) for s in rows]


# --- Roster (NRPS) ----------------------------------------------------------------------------

def roster_sync_request(*, link: CourseContext, actor) -> None:
    from gradebook.models import AuditLog

    AuditLog.objects.create(actor=actor, action=AuditLog.Action.LTI_ROSTER, course=link.course,
                            new={"context": link.context.id_on_platform, "requested": True})
    transaction.on_commit(lambda: send_light_task(ROSTER_SYNC_TASK, link.pk))


def roster_sync(*, link_id: int) -> dict:
    """Read the LMS's roster (NRPS) and bring the course's enrolments in line: members are
    created or matched by ``sub`` and enrolled with their LMS role; a student who left (absent, or
    not Active) keeps their account and work but their enrolment becomes inactive."""
    from gradebook.models import AuditLog

    link = CourseContext.objects.select_related("context__deployment__registration", "course").get(pk=link_id)
    context = link.context
    if not context.memberships_url:
        raise ScoreSendError("the LMS gave no roster service (NRPS) for this course")
    service = NamesRolesProvisioningService(ServiceConnector(context.deployment.registration.to_registration()),
                                            {"context_memberships_url": context.memberships_url})
    try:
        members = service.get_members()
    except (LtiException, OSError, ValueError, KeyError) as exc:
        raise ScoreSendError(str(exc)) from exc
    context.update_memberships(members)  # django-lti: LtiUser and LtiMembership rows, is_active from status
    present: set[int] = set()
    counts = {"active": 0, "inactive": 0}
    registration = context.deployment.registration
    with transaction.atomic():
        for member in members:
            if member.get("status", "Active") != "Active":
                continue
            lti_user = LtiUser.objects.get(registration=registration, sub=member["user_id"])
            teacher = launch_is_instructor(member.get("roles"))
            user = user_for_lti(lti_user=lti_user, teacher=teacher)
            enrollment_for_lti(course=link.course, user=user, teacher=teacher)
            present.add(user.pk)
            counts["active"] += 1
        # Members the LMS no longer lists (or lists as Inactive): django-lti leaves their
        # membership as it was, Stride marks it and the enrolment inactive (never deleted).
        LtiMembership.objects.filter(context=context).exclude(user__auth_user_id__in=present).update(is_active=False)
        gone = (Enrollment.objects.filter(course=link.course, role=Enrollment.Role.STUDENT, is_active=True,
                                          user__lti_users__registration=context.deployment.registration)
                .exclude(user_id__in=present))
        counts["inactive"] = gone.update(is_active=False)
        CourseContext.objects.filter(pk=link.pk).update(roster_synced_at=timezone.now())
        AuditLog.objects.create(actor=None, action=AuditLog.Action.LTI_ROSTER, course=link.course,
                                new={"context": context.id_on_platform, **counts})
    return counts
