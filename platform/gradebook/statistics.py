"""Item statistics for one exercise, and their SVG charts.

Pure functions: numbers in, numbers or SVG text out, no database. The SVG is built only
from numbers and from text passed through :func:`html.escape`, so a view may mark it safe.

Indices follow Moodle's quiz statistics (docs.moodle.org, "Quiz statistics calculations"):

* facility index: the mean score on the item as a percentage of its maximum. Stride
  computes it over each student's FIRST attempt (Moodle's "first attempt" option): later
  attempts come after feedback, so they measure learning rather than the item's difficulty.
* discrimination index: the Pearson correlation between the item score and the score on
  the rest of the test (the total minus this item), as Moodle does. Stride uses each
  student's best scores for both, i.e. the numbers the gradebook shows.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from html import escape

# Chart geometry, in SVG user units.
_W, _H = 480, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 14, 44


def facility_index(first_attempt_scores: Sequence[float], max_score: float = 1.0) -> float | None:
    """Mean score on the item divided by its maximum, as a percentage (0–100). None when no score."""
    scores = [float(s) for s in first_attempt_scores if s is not None]
    if not scores or max_score <= 0:
        return None
    return 100.0 * (sum(scores) / len(scores)) / max_score


def discrimination_index(item_scores: Sequence[float], total_scores: Sequence[float]) -> float | None:
    """Pearson correlation between the item score and the rest-of-test score (total − item).

    ``item_scores[i]`` and ``total_scores[i]`` belong to the same student, in the same unit
    (points). None when it is undefined: fewer than two students, or a constant series.
    """
    if len(item_scores) != len(total_scores):
        raise ValueError("item_scores and total_scores must have the same length")
    n = len(item_scores)
    if n < 2:
        return None
    xs = [float(x) for x in item_scores]
    ys = [float(t) - float(x) for x, t in zip(item_scores, total_scores)]
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def histogram_counts(scores: Sequence[float], bins: int = 10) -> list[int]:
    """Counts of scores in ``bins`` equal bins over [0, 1]; 1.0 falls in the last bin."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    counts = [0] * bins
    for s in scores:
        if s is None:
            continue
        s = min(1.0, max(0.0, float(s)))
        counts[min(bins - 1, int(s * bins))] += 1
    return counts


def attempts_counts(counts: Sequence[int], cap: int = 10) -> tuple[list[str], list[int]]:
    """How many students made 1, 2, … attempts; the last label is "cap+" when anyone exceeds it."""
    c = Counter(max(1, int(n)) for n in counts if n)
    top = max(c, default=1)
    labels, values = [], []
    for k in range(1, min(top, cap) + 1):
        labels.append(str(k))
        values.append(c[k])
    if top > cap:
        labels[-1] = f"{cap}+"
        values[-1] = sum(v for k, v in c.items() if k >= cap)
    return labels, values


def bar_chart_svg(labels: Sequence[str], values: Sequence[int], *, x_label: str, y_label: str, title: str = "", css_class: str = "chart") -> str:
    """A bar chart with one ``<rect class="bar">`` per value, labelled axes and counts above bars."""
    if len(labels) != len(values):
        raise ValueError("labels and values must have the same length")
    n = max(1, len(values))
    top = max([int(v) for v in values] + [1])
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = plot_w / n
    bar_w = slot * 0.8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{escape(css_class)}" viewBox="0 0 {_W} {_H}" '
        f'width="100%" style="max-width:{_W}px" role="img" aria-label="{escape(title or y_label)}">',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    x0, y0 = _LEFT, _TOP + plot_h
    parts.append(f'<line class="axis" x1="{x0}" y1="{_TOP}" x2="{x0}" y2="{y0}" stroke="#888"/>')
    parts.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{_W - _RIGHT}" y2="{y0}" stroke="#888"/>')
    # y ticks: 0 and the maximum count
    for v in sorted({0, top}):
        y = y0 - plot_h * v / top
        parts.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10" fill="#666">{v}</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        value = int(value)
        h = plot_h * value / top
        x = x0 + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y0 - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="#4f5bd5">'
            f"<title>{escape(str(label))}: {value}</title></rect>"
        )
        if value:
            parts.append(f'<text class="count" x="{x + bar_w / 2:.1f}" y="{y0 - h - 3:.1f}" text-anchor="middle" font-size="10" fill="#333">{value}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y0 + 12}" text-anchor="middle" font-size="9" fill="#666">{escape(str(label))}</text>')
    parts.append(f'<text class="x-label" x="{x0 + plot_w / 2:.1f}" y="{_H - 6}" text-anchor="middle" font-size="11" fill="#333">{escape(x_label)}</text>')
    parts.append(
        f'<text class="y-label" x="12" y="{_TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="11" fill="#333" '
        f'transform="rotate(-90 12 {_TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def score_histogram_svg(scores: list[float], bins: int = 10, *, x_label: str = "Score (%)", y_label: str = "Students", title: str = "") -> str:
    """Histogram of scores in [0, 1] as inline SVG: one bar per bin, labelled by its range in %."""
    counts = histogram_counts(scores, bins)
    labels = [f"{round(100 * i / bins)}–{round(100 * (i + 1) / bins)}" for i in range(bins)]
    return bar_chart_svg(labels, counts, x_label=x_label, y_label=y_label, title=title, css_class="chart histogram")


def attempts_distribution_svg(counts: list[int], *, x_label: str = "Attempts", y_label: str = "Students", title: str = "", cap: int = 10) -> str:
    """Distribution of the number of attempts per student (``counts``: one number per student)."""
    labels, values = attempts_counts(counts, cap=cap)
    return bar_chart_svg(labels, values, x_label=x_label, y_label=y_label, title=title, css_class="chart attempts")
