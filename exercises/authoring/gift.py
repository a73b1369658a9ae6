"""Import of Moodle GIFT quiz files (https://docs.moodle.org/en/GIFT_format).

``parse_gift`` is pure Python: it turns a GIFT text into ``GiftQuestion`` objects whose
``data`` is an exercise in the course-folder format, or raises ``GiftError`` listing the line
of every problem found. ``gift_import`` (Django) validates and creates the exercises of a
course in one transaction: a malformed file imports nothing.

Supported: comments ``//``, ``$CATEGORY:`` lines (ignored), titles ``::title::``, format tags
``[markdown]`` ``[html]`` ``[plain]`` ``[moodle]``, escapes ``\\~ \\= \\# \\{ \\} \\: \\\\ \\n``,
multiple choice ``{=right ~wrong#feedback}`` with weights ``~%50%``, true/false ``{T}``
``{FALSE#wrong#right}``, numerical ``{#3.14:0.01}`` ``{#1..5}`` ``{#=3:0.1 =%50%3:1}``, short
answer ``{=cat =%50%chat}``, missing word (text after the braces, shown as "_____").
Not supported (reported as errors): matching ``->``, essay ``{}``, descriptions (no braces),
several answer blocks in one question.
"""
from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import nh3

BLANK = "_____"
DEFAULT_POLICY = {"max_attempts": None, "retry_penalty": 0.0, "due_at": None,
                  "late_policy": "penalty", "late_penalty": 0.0}
TITLE_LENGTH = 80
SLUG_LENGTH = 70

# Escaped characters become private-use characters while parsing, and come back at the end.
_ESCAPES = {"\\\\": "\ue000", "\\~": "\ue001", "\\=": "\ue002", "\\#": "\ue003",
            "\\{": "\ue004", "\\}": "\ue005", "\\:": "\ue006", "\\%": "\ue007"}
_UNESCAPE = {placeholder: seq[1] for seq, placeholder in _ESCAPES.items()}
_ESCAPE_RE = re.compile(r"\\[\\~=#{}:%]")
_FORMAT_RE = re.compile(r"\[(markdown|html|plain|moodle)\]", re.IGNORECASE)
_WEIGHT_RE = re.compile(r"%(-?\d+(?:\.\d+)?)%")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMERIC_VALUE_RE = re.compile(rf"\s*({_NUMBER})\s*(?::\s*({_NUMBER})\s*)?")
_NUMERIC_RANGE_RE = re.compile(rf"\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*")
_TRUE_FALSE = {"t": True, "true": True, "f": False, "false": False}


class GiftError(ValueError):
    """A GIFT text that cannot be imported; ``errors`` lists every (line, message)."""

    def __init__(self, errors: list[tuple[int, str]]):
        self.errors = sorted(errors, key=lambda error: error[0])
        super().__init__("\n".join(f"line {line}: {message}" for line, message in self.errors))


@dataclass
class GiftQuestion:
    line: int
    slug: str
    type: str
    title: str
    statement: str
    params: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        """The exercise in the course-folder format (one language: same text in fr and en)."""
        return {
            "slug": self.slug,
            "type": self.type,
            "title": {"fr": self.title, "en": self.title},
            "statement": {"fr": self.statement, "en": self.statement},
            "params": self.params,
            "policy": dict(DEFAULT_POLICY),
        }


class _QuestionError(Exception):
    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset
        self.message = message


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_LENGTH].strip("-")


def _unescape(text: str) -> str:
    text = text.replace("\\n", "\n")
    return "".join(_UNESCAPE.get(char, char) for char in text)


def _clean(text: str, fmt: str) -> str:
    text = _unescape(text).strip()
    if fmt == "html":
        text = html.unescape(nh3.clean(text, tags=set())).strip()
    return text


def _blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each question: blank lines separate questions."""
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if not stripped or stripped.startswith("$CATEGORY:"):
            if current:
                blocks.append((start, "\n".join(current)))
                current = []
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        blocks.append((start, "\n".join(current)))
    return blocks


def parse_gift(text: str) -> list[GiftQuestion]:
    questions, errors = _parse(text)
    if errors:
        raise GiftError(errors)
    return questions


def _parse(text: str) -> tuple[list[GiftQuestion], list[tuple[int, str]]]:
    questions: list[GiftQuestion] = []
    errors: list[tuple[int, str]] = []
    for start, block in _blocks(text):
        escaped = _ESCAPE_RE.sub(lambda match: _ESCAPES[match.group(0)], block)
        try:
            questions.append(_question(escaped, start, len(questions) + 1))
        except _QuestionError as error:
            errors.append((start + escaped.count("\n", 0, error.offset), error.message))
    slugs: set[str] = set()
    for question in questions:
        base, number = question.slug, 2
        while question.slug in slugs:
            question.slug = f"{base}-{number}"
            number += 1
        slugs.add(question.slug)
    return questions, errors


def _question(block: str, line: int, index: int) -> GiftQuestion:
    position = 0
    title = ""
    stripped = block.lstrip()
    if stripped.startswith("::"):
        begin = len(block) - len(stripped)
        end = block.find("::", begin + 2)
        if end < 0:
            raise _QuestionError(begin, "the title is not closed by '::'")
        title = _unescape(block[begin + 2:end]).strip()
        position = end + 2
    fmt = "moodle"
    rest = block[position:]
    format_match = re.match(r"\s*" + _FORMAT_RE.pattern, rest, re.IGNORECASE)
    if format_match:
        fmt = format_match.group(1).lower()
        position += format_match.end()
    opening = block.find("{", position)
    if opening < 0:
        raise _QuestionError(position, "a description (no answer block) is not supported")
    closing = block.find("}", opening)
    if closing < 0:
        raise _QuestionError(opening, "unclosed brace: '{' has no matching '}'")
    nested = block.find("{", opening + 1, closing)
    if nested >= 0:
        raise _QuestionError(nested, "'{' inside an answer block (escape it as \\{)")
    before, body, after = block[position:opening], block[opening + 1:closing], block[closing + 1:]
    if "{" in after or "}" in after:
        offset = closing + 1 + min(i for i in (after.find("{"), after.find("}")) if i >= 0)
        raise _QuestionError(offset, "only one answer block per question is supported "
                                     "(escape literal braces as \\{ and \\})")
    statement = _clean(before, fmt)
    if _clean(after, fmt):
        statement = f"{statement} {BLANK} {_clean(after, fmt)}".strip()
    if not statement:
        raise _QuestionError(position, "the question has no text")
    kind, params = _answers(body, opening + 1, fmt)
    if not title:
        title = statement.split("\n", 1)[0]
        title = title if len(title) <= TITLE_LENGTH else title[:TITLE_LENGTH - 1] + "…"
    slug = slugify(title) if title else ""
    return GiftQuestion(line=line, slug=slug or f"gift-{index}", type=kind, title=title,
                        statement=statement, params=params)


def _answers(body: str, offset: int, fmt: str) -> tuple[str, dict[str, Any]]:
    content = body.strip()
    lead = offset + len(body) - len(body.lstrip())
    if not content:
        raise _QuestionError(lead, "essay questions ({}) are not supported")
    if "->" in content:
        raise _QuestionError(lead + content.find("->"), "matching questions (->) are not supported")
    if content.startswith("#"):
        return "numeric", _numeric(content[1:], lead + 1)
    head, *feedbacks = content.split("#")
    if head.strip().lower() in _TRUE_FALSE:
        return "mcq", _true_false(_TRUE_FALSE[head.strip().lower()], feedbacks, fmt)
    return _choices(content, lead, fmt)


def _split_answers(content: str, lead: int, markers: str) -> list[tuple[str, str, int]]:
    """(marker, text, offset) of each answer: a marker character starts an answer."""
    starts = [i for i, char in enumerate(content) if char in markers]
    if not starts or content[:starts[0]].strip():
        raise _QuestionError(lead, f"each answer must start with one of {' '.join(markers)} "
                                   f"(or escape the character as \\{markers[0]})")
    answers = []
    for number, begin in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(content)
        answers.append((content[begin], content[begin + 1:end], lead + begin))
    return answers


def _weight(text: str, offset: int) -> tuple[float | None, str]:
    match = _WEIGHT_RE.match(text.lstrip())
    if text.lstrip().startswith("%") and not match:
        raise _QuestionError(offset, "a weight is written %50% or %-25%")
    if not match:
        return None, text
    weight = float(match.group(1))
    if not -100 <= weight <= 100:
        raise _QuestionError(offset, f"the weight {match.group(1)}% is not between -100% and 100%")
    return weight / 100, text.lstrip()[match.end():]


def _feedback(text: str, fmt: str) -> tuple[str, dict[str, str] | None]:
    answer, _, feedback = text.partition("#")
    feedback = _clean(feedback, fmt)
    return answer, ({"fr": feedback, "en": feedback} if feedback else None)


def _true_false(right: bool, feedbacks: list[str], fmt: str) -> dict[str, Any]:
    wrong_fb = _clean(feedbacks[0], fmt) if feedbacks else ""
    right_fb = _clean(feedbacks[1], fmt) if len(feedbacks) > 1 else ""
    choices = []
    for key, value, text in (("true", True, {"fr": "Vrai", "en": "True"}),
                             ("false", False, {"fr": "Faux", "en": "False"})):
        choice: dict[str, Any] = {"id": key, "text": text, "correct": value == right}
        comment = right_fb if value == right else wrong_fb
        if comment:
            choice["feedback"] = {"fr": comment, "en": comment}
        choices.append(choice)
    return {"multiple": False, "shuffle": False, "choices": choices}


def _choices(content: str, lead: int, fmt: str) -> tuple[str, dict[str, Any]]:
    answers = []
    for marker, text, offset in _split_answers(content, lead, "=~"):
        weight, text = _weight(text, offset)
        text, feedback = _feedback(text, fmt)
        text = _clean(text, fmt)
        if not text:
            raise _QuestionError(offset, "an answer is empty")
        if weight is None:
            weight = 1.0 if marker == "=" else 0.0
        answers.append((marker, text, weight, feedback, offset))
    if all(marker == "=" for marker, *_ in answers):
        # Short answer: every answer is accepted, with its weight.
        items = []
        for _marker, text, weight, feedback, offset in answers:
            if weight < 0:
                raise _QuestionError(offset, "a short answer's weight is between 0% and 100%")
            item: dict[str, Any] = {"text": text, "weight": weight}
            if feedback:
                item["feedback"] = feedback
            items.append(item)
        if not any(item["weight"] == 1 for item in items):
            raise _QuestionError(lead, "no answer earns full marks (add =answer or =%100%answer)")
        return "short_answer", {"answers": items, "case_sensitive": False}
    right = [answer for answer in answers if answer[2] > 0]
    if not right:
        raise _QuestionError(lead, "the multiple-choice question has no right answer "
                                   "(mark one with = or a positive weight)")
    # Moodle: one "=" answer with "~%n%" ones is a single-answer question whose other answers
    # earn part of the mark; otherwise every positively weighted answer is one of several.
    full = sum(1 for answer in answers if answer[2] >= 1)
    multiple = len(right) > 1 and not (full == 1 and any(marker == "=" for marker, *_ in answers))
    weighted = any(0 < weight < 1 or weight < 0 for _m, _t, weight, _f, _o in answers)
    choices = []
    for number, (_marker, text, weight, feedback, _offset) in enumerate(answers):
        choice: dict[str, Any] = {"id": _choice_id(number), "text": {"fr": text, "en": text},
                                  "correct": weight > 0 if multiple else weight >= 1}
        if weighted:
            choice["weight"] = weight
        if feedback:
            choice["feedback"] = feedback
        choices.append(choice)
    return "mcq", {"multiple": multiple, "shuffle": True, "choices": choices}


def _choice_id(number: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[number] if number < len(letters) else f"c{number}"


def _numeric(content: str, lead: int) -> dict[str, Any]:
    content_stripped = content.strip()
    lead += len(content) - len(content.lstrip())
    if content_stripped.startswith(("=", "~")):
        parts = _split_answers(content_stripped, lead, "=~")
    else:
        parts = [("=", content_stripped, lead)]
    answers = []
    for marker, text, offset in parts:
        weight, text = _weight(text, offset)
        text, feedback = _feedback(text, "plain")
        if weight is None:
            weight = 1.0 if marker == "=" else 0.0
        if weight < 0:
            raise _QuestionError(offset, "a numerical answer's weight is between 0% and 100%")
        spec = _unescape(text).strip()
        ranged = _NUMERIC_RANGE_RE.fullmatch(spec)
        single = _NUMERIC_VALUE_RE.fullmatch(spec)
        if ranged:
            low, high = float(ranged.group(1)), float(ranged.group(2))
            if low > high:
                raise _QuestionError(offset, f"the range {spec} is empty (min > max)")
            value, tolerance = (low + high) / 2, (high - low) / 2
        elif single:
            value = float(single.group(1))
            tolerance = float(single.group(2)) if single.group(2) is not None else 0.0
            if tolerance < 0:
                raise _QuestionError(offset, f"the tolerance in {spec!r} is negative")
        else:
            raise _QuestionError(offset, f"{spec!r} is not a number "
                                         f"(expected 3.14, 3.14:0.01 or 1..5)")
        answer: dict[str, Any] = {"value": value, "tolerance": tolerance, "weight": weight}
        if feedback:
            answer["feedback"] = feedback
        answers.append(answer)
    if not any(answer["weight"] == 1 for answer in answers):
        raise _QuestionError(lead, "no numerical answer earns full marks")
    return {"answers": answers}


# ----------------------------------------------------------------------------- Django side

@dataclass
class GiftImportReport:
    """What an import does (or, as a dry run, would do): questions matched by their key."""
    added: list[str]
    changed: list[str]
    unchanged: list[str]
    exercises: list  # the exercises saved (empty for a dry run)
    dry_run: bool


# The fields a re-import may change; the rest (position, published, policy) stays the teacher's.
_REIMPORTED = ("type", "params", "title_i18n", "statement_i18n")


def gift_key(question: GiftQuestion) -> str:
    """The stable key of a GIFT question: its ``::title::`` (or first line) as a slug, numbered
    in the file when two share one. The same file imported again gives the same keys."""
    return f"gift:{question.slug}"


def gift_import(*, course, text: str, dry_run: bool = False) -> GiftImportReport:
    """Import the GIFT file's questions into ``course``, all or nothing.

    A question already imported (same key) is updated in place, never copied; a new one is
    added at the end of the course, **hidden** until the teacher publishes it. ``dry_run``
    reports added / changed / unchanged and saves nothing. Raises ``GiftError`` listing every
    problem (parse errors and invalid params) by line.
    """
    from django.db import transaction
    from django.db.models import Max

    from exercises.models import Exercise

    from .course_files import CourseFileError, exercise_fields

    questions, errors = _parse(text)
    checked = []
    for question in questions:
        # The same checks as a course folder's exercise (type, params, policy, texts).
        try:
            checked.append((gift_key(question), exercise_fields(question.data, where=f"line {question.line}")))
        except CourseFileError as exc:
            errors.append((question.line, f"invalid question: {str(exc).removeprefix(f'line {question.line}: ')}"))
    if errors:
        raise GiftError(errors)

    with transaction.atomic():
        existing = {e.import_key: e for e in Exercise.objects.select_for_update().filter(
            course=course, import_key__in=[key for key, _fields in checked], deleted_at__isnull=True)}
        taken = set(Exercise.objects.filter(course=course).values_list("slug", flat=True))
        last = Exercise.objects.filter(course=course).aggregate(last=Max("position"))["last"]
        position = -1 if last is None else last
        report = GiftImportReport(added=[], changed=[], unchanged=[], exercises=[], dry_run=dry_run)
        for key, fields in checked:
            title = fields["title_i18n"].get("fr") or fields["slug"]
            exercise = existing.get(key)
            if exercise is not None:
                updates = {name: fields[name] for name in _REIMPORTED if getattr(exercise, name) != fields[name]}
                (report.changed if updates else report.unchanged).append(title)
                if updates and not dry_run:
                    for name, value in updates.items():
                        setattr(exercise, name, value)
                    exercise.save(update_fields=[*updates, "updated_at"])
                report.exercises.append(exercise)
                continue
            report.added.append(title)
            base = slug = fields.pop("slug")
            number = 2
            while slug in taken:
                slug = f"{base}-{number}"
                number += 1
            taken.add(slug)
            position += 1
            if not dry_run:
                report.exercises.append(Exercise.objects.create(
                    course=course, **{**fields, "slug": slug, "position": position, "published": False, "import_key": key}))
        if dry_run:
            report.exercises = []
    return report
