"""Grade tables. A course's whole gradebook costs a constant number of queries."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, Q

from courses.models import Course
from courses.selectors import course_students
from exercises.engine.selectors import grade_overrides
from exercises.models import Attempt, Exercise, Extension


@dataclass
class GradebookRow:
    user: object
    best: dict[int, float] = field(default_factory=dict)  # exercise id -> best score in [0, 1]
    attempts: dict[int, int] = field(default_factory=dict)
    late: set[int] = field(default_factory=set)
    overridden: set[int] = field(default_factory=set)
    extended: dict[int, object] = field(default_factory=dict)  # exercise id -> the student's own due date
    total_points: float = 0.0
    weighted: float = 0.0  # in [0, 1]
    sections: dict[str, float] = field(default_factory=dict)  # section -> points in it

    @property
    def grade20(self) -> float:
        """The weighted grade on the French scale, out of 20."""
        return round(self.weighted * 20, 2)


def section_key(exercise: Exercise) -> str:
    """A section's stable name (its French title, else its first one), whatever the page's language."""
    names = exercise.section_i18n or {}
    return names.get("fr") or next(iter(names.values()), "")


def section_weights(*, course: Course) -> dict[str, float]:
    from .models import SectionWeight

    return dict(SectionWeight.objects.filter(course=course).values_list("section", "weight"))


def gradebook_rows(*, course: Course) -> tuple[list[Exercise], list[GradebookRow]]:
    exercises = list(Exercise.objects.filter(course=course, published=True).order_by("position", "pk"))
    students = list(course_students(course=course))
    rows = {u.pk: GradebookRow(user=u) for u in students}
    stats = (
        Attempt.objects.filter(exercise__course=course, user_id__in=rows.keys())
        .values("user_id", "exercise_id")
        .annotate(best=Max("score"), n=Count("id"), late=Count("id", filter=Q(late=True)))  # MAX(bool) is not portable
    )
    for s in stats:
        row = rows[s["user_id"]]
        row.best[s["exercise_id"]] = s["best"]
        row.attempts[s["exercise_id"]] = s["n"]
        if s["late"]:
            row.late.add(s["exercise_id"])
    # A teacher's override replaces the best attempt, by the rule every page uses (one query).
    for (user_id, exercise_id), score in grade_overrides(exercises=exercises, user_ids=list(rows)).items():
        rows[user_id].best[exercise_id] = score
        rows[user_id].overridden.add(exercise_id)
    for user_id, exercise_id, due_at in Extension.objects.filter(exercise__in=exercises, user_id__in=rows.keys()).values_list(
        "user_id", "exercise_id", "due_at"
    ):
        rows[user_id].extended[exercise_id] = due_at
    # The grade: each section's weighted mean, weighted by the teacher's section weight (by
    # default the sum of its exercises' weights: the plain weighted mean of every exercise).
    groups: dict[str, list[Exercise]] = {}
    for e in exercises:
        groups.setdefault(section_key(e), []).append(e)
    chosen = section_weights(course=course)
    weights = {key: chosen.get(key, sum(e.weight for e in members)) for key, members in groups.items()}
    total_weight = sum(weights.values()) or 1.0
    for row in rows.values():
        row.total_points = round(sum(row.best.get(e.pk, 0.0) * e.max_score for e in exercises), 2)
        weighted = 0.0
        for key, members in groups.items():
            inner = sum(e.weight for e in members)
            if inner and weights[key]:
                weighted += weights[key] * sum(row.best.get(e.pk, 0.0) * e.weight for e in members) / inner
        row.weighted = round(weighted / total_weight, 4)
        for e in exercises:
            row.sections[e.section] = round(row.sections.get(e.section, 0.0) + row.best.get(e.pk, 0.0) * e.max_score, 2)
    return exercises, list(rows.values())


# --- Gradebook page: filters and sorting (pure Python over gradebook_rows) -------------------

SORT_DIRECTIONS = ("asc", "desc")


def gradebook_filter(
    *, exercises: list[Exercise], rows: list[GradebookRow], q: str = "", exercise_q: str = "", late_only: bool = False
) -> tuple[list[Exercise], list[GradebookRow]]:
    """The exercise columns and student rows that match the page's filters.

    ``q`` matches a student's username or full name, ``exercise_q`` an exercise's title or slug
    (both case-insensitive substrings); ``late_only`` keeps the students with late work in one
    of the columns shown.
    """
    q, exercise_q = q.strip().lower(), exercise_q.strip().lower()
    if exercise_q:
        exercises = [e for e in exercises if exercise_q in e.slug.lower() or exercise_q in str(e.title).lower()]
    if q:
        rows = [
            r for r in rows
            if q in r.user.username.lower() or q in r.user.get_full_name().lower() or q in (r.user.email or "").lower()
        ]
    if late_only:
        shown = {e.pk for e in exercises}
        rows = [r for r in rows if r.late & shown]
    return exercises, rows


def gradebook_sort(*, rows: list[GradebookRow], sort: str = "name", direction: str = "asc") -> list[GradebookRow]:
    """Rows sorted by ``name``, ``total`` (weighted grade) or an exercise id (best score).

    Students without an attempt at the exercise sort below a score of 0. Ties keep the name order.
    """
    reverse = direction == "desc"
    by_name = sorted(rows, key=lambda r: ((r.user.last_name or "").lower(), r.user.username.lower()))
    if sort == "total":
        return sorted(by_name, key=lambda r: (r.weighted, r.total_points), reverse=reverse)
    if sort.isdigit():
        pk = int(sort)
        return sorted(by_name, key=lambda r: -1.0 if r.best.get(pk) is None else r.best[pk], reverse=reverse)
    return list(reversed(by_name)) if reverse else by_name


# --- Drill-down: one student's whole activity in a course -------------------------------------

@dataclass
class ExerciseActivity:
    exercise: Exercise
    attempts: list = field(default_factory=list)
    submissions: list = field(default_factory=list)
    best: float | None = None  # the grade: the override if any, else the best attempt
    best_attempt: float | None = None
    override: object = None  # the teacher's GradeOverride, if any
    due_at: object = None  # the due date that applies to this student
    personal_due: bool = False  # the student has their own due date (an extension)


def student_get_in_course(*, course: Course, user_id: int):
    """A student of the course, or 404."""
    from django.http import Http404

    user = course_students(course=course, include_inactive=True).filter(pk=user_id).first()
    if user is None:
        raise Http404
    return user


def student_activity(*, course: Course, user) -> list[ExerciseActivity]:
    """Every attempt and model submission of a student in a course, grouped by exercise, with
    the grade every page shows (the teacher's override first) and the student's due date.

    Five queries whatever the amount of work: exercises, attempts, submissions, overrides,
    extensions.
    """
    from exercises.models import Submission

    from .models import GradeOverride

    groups = {
        e.pk: ExerciseActivity(exercise=e, due_at=e.due_at)
        for e in Exercise.objects.filter(course=course, deleted_at__isnull=True).order_by("position", "pk")
    }
    for a in Attempt.objects.filter(exercise__course=course, user=user).order_by("exercise_id", "number"):
        g = groups[a.exercise_id]
        a.exercise = g.exercise  # no query per attempt
        g.attempts.append(a)
        g.best_attempt = a.score if g.best_attempt is None else max(g.best_attempt, a.score)
    for g in groups.values():
        g.best = g.best_attempt
    for o in GradeOverride.objects.filter(exercise__course=course, student=user).select_related("by"):
        groups[o.exercise_id].override, groups[o.exercise_id].best = o, o.score
    for exercise_id, due_at in Extension.objects.filter(exercise__course=course, user=user).values_list("exercise_id", "due_at"):
        groups[exercise_id].due_at, groups[exercise_id].personal_due = due_at, True
    for s in Submission.objects.filter(exercise__course=course, user=user).defer("report").order_by("queued_at", "pk"):
        g = groups[s.exercise_id]
        s.exercise = g.exercise
        g.submissions.append(s)
    return [g for g in groups.values() if g.attempts or g.submissions or g.override or g.personal_due]


# --- Per-exercise statistics ------------------------------------------------------------------

@dataclass
class ExerciseStats:
    exercise: Exercise
    students: int  # students in the course
    first_scores: list[float]  # one per student who attempted, their first attempt's score in [0, 1]
    best_scores: list[float]  # one per student who attempted, in [0, 1]
    attempt_counts: list[int]  # one per student who attempted
    item_points: list[float]  # best points on this exercise, per student who attempted
    total_points: list[float]  # the same students' gradebook total (best points, published exercises)


def exercise_get_in_course(*, course: Course, exercise_id: int) -> Exercise:
    from django.http import Http404

    exercise = Exercise.objects.filter(course=course, pk=exercise_id).first()
    if exercise is None:
        raise Http404
    return exercise


def exercise_statistics(*, course: Course, exercise: Exercise) -> ExerciseStats:
    """The numbers behind the statistics page, in a constant number of queries."""
    exercises, rows = gradebook_rows(course=course)
    in_total = any(e.pk == exercise.pk for e in exercises)
    totals = {r.user.pk: r.total_points for r in rows}
    first: dict[int, float] = {}
    best: dict[int, float] = {}
    count: dict[int, int] = {}
    attempts = (
        Attempt.objects.filter(exercise=exercise, user_id__in=course_students(course=course).values("pk"))
        .order_by("user_id", "number")
        .values_list("user_id", "score")
    )
    for user_id, score in attempts:
        first.setdefault(user_id, score)
        best[user_id] = max(best.get(user_id, score), score)
        count[user_id] = count.get(user_id, 0) + 1
    users = list(first)
    item_points = [best[u] * exercise.max_score for u in users]
    total_points = [
        totals.get(u, 0.0) if in_total else totals.get(u, 0.0) + best[u] * exercise.max_score for u in users
    ]
    return ExerciseStats(
        exercise=exercise,
        students=len(rows),
        first_scores=[first[u] for u in users],
        best_scores=[best[u] for u in users],
        attempt_counts=[count[u] for u in users],
        item_points=item_points,
        total_points=total_points,
    )


# --- Regrade preview --------------------------------------------------------------------------

@dataclass
class RegradeStudent:
    user: object
    old: float | None  # the grade shown today (override first, else the best attempt)
    new: float | None  # after the regrade; None while a worker has to grade a model again
    attempts: int  # attempts (or submissions) graded again
    changed: int  # of which the score changes
    overridden: bool = False  # a teacher's override stays the grade whatever the regrade gives

    @property
    def differs(self) -> bool:
        return self.new is not None and self.old != self.new


@dataclass
class RegradePreview:
    exercise: Exercise
    attempts: int
    changed: int
    requeued: int
    students: list[RegradeStudent]

    @property
    def students_changed(self) -> list[RegradeStudent]:
        return [s for s in self.students if s.differs]


def regrade_preview(*, exercise: Exercise) -> RegradePreview:
    """What a regrade would change, student by student (old → new grade), computed by the same
    code as the regrade itself with nothing saved."""
    from django.contrib.auth import get_user_model

    from exercises.grading import exercise_regrade

    report = exercise_regrade(exercise=exercise, dry_run=True)
    by_user: dict[int, list] = {}
    for change in report.changes:
        by_user.setdefault(change.user_id, []).append(change)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=by_user).order_by("username")}
    overrides = grade_overrides(exercises=[exercise], user_ids=list(users))
    bests = dict(
        Attempt.objects.filter(exercise=exercise, user_id__in=users).values("user_id").annotate(best=Max("score"))
        .values_list("user_id", "best")
    )
    students = []
    for user_id, user in users.items():
        changes = by_user[user_id]
        overridden = (user_id, exercise.pk) in overrides
        old = overrides[(user_id, exercise.pk)] if overridden else bests.get(user_id)
        if overridden:
            new = old
        elif any(c.new is None for c in changes):
            new = None  # a model goes back to a worker: its grade is known once graded again
        else:
            # Every attempt of the student is graded again (instant types, generations' attempts).
            new = max(c.new for c in changes)
        students.append(RegradeStudent(
            user=user, old=old, new=new, attempts=len(changes), overridden=overridden,
            changed=sum(1 for c in changes if c.new is not None and c.new != c.old)))
    return RegradePreview(exercise=exercise, attempts=report.attempts, changed=report.changed,
                          requeued=len([c for c in report.changes if c.new is None]), students=students)


# --- Integrity report (read only: a worker task computes it) --------------------------------

REASON_LABELS = {"same_weights": "same_weights", "similar_weights": "similar_weights", "same_mistakes": "same_mistakes"}


def integrity_report_for(*, exercise: Exercise) -> dict | None:
    """The stored integrity report of an exercise with its students and submissions resolved,
    in three queries; None before the first grading."""
    from django.contrib.auth import get_user_model

    from exercises.models import IntegrityReport, Submission

    report = IntegrityReport.objects.filter(exercise=exercise).first()
    if report is None:
        return None
    submission_ids = {p[k] for p in report.pairs for k in ("a", "b")}
    submissions = {s.pk: s for s in Submission.objects.filter(pk__in=submission_ids).defer("report")}
    user_ids = {s.user_id for s in submissions.values()} | {u for g in report.generations for u in g["users"]}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=user_ids)}
    pairs = [
        {**p, "left": submissions.get(p["a"]), "right": submissions.get(p["b"]),
         "user_left": users.get(submissions[p["a"]].user_id) if p["a"] in submissions else None,
         "user_right": users.get(submissions[p["b"]].user_id) if p["b"] in submissions else None}
        for p in report.pairs
    ]
    generations = [{**g, "students": [users[u] for u in g["users"] if u in users]} for g in report.generations]
    return {"report": report, "flagged": [p for p in pairs if p["flagged"]], "closest": [p for p in pairs if not p["flagged"]],
            "generations": generations}


# --- Distractors: how often each choice of a multiple-choice question was picked ------------

STAT_BASES = ("first", "best")


@dataclass
class ChoiceCount:
    id: str
    text: object  # {"fr", "en"}
    correct: bool
    picked: int
    share: float  # of the students counted


def mcq_choice_counts(*, course: Course, exercise: Exercise, basis: str = "first") -> list[ChoiceCount]:
    """For each choice of a multiple-choice question, how many students picked it on their
    first (or best) attempt, as Moodle's item statistics show; one query."""
    choices = (exercise.params or {}).get("choices") or []
    if not choices:
        return []
    chosen_attempt: dict[int, tuple[float, list]] = {}
    rows = (Attempt.objects.filter(exercise=exercise, user_id__in=course_students(course=course).values("pk"))
            .order_by("user_id", "number").values_list("user_id", "score", "answer"))
    for user_id, score, answer in rows:
        picked = answer.get("choices", []) if isinstance(answer, dict) else []
        if user_id not in chosen_attempt or (basis == "best" and score > chosen_attempt[user_id][0]):
            chosen_attempt[user_id] = (score, picked)
    counted = len(chosen_attempt) or 1
    counts = {c["id"]: 0 for c in choices}
    for _score, picked in chosen_attempt.values():
        for choice in set(picked):
            if choice in counts:
                counts[choice] += 1
    return [ChoiceCount(id=c["id"], text=c["text"], correct=bool(c.get("correct")), picked=counts[c["id"]],
                        share=counts[c["id"]] / counted) for c in choices]
