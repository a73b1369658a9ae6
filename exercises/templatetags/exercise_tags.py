from __future__ import annotations

from django import template

register = template.Library()


def _pair(value):
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1] and not isinstance(value[0], list):
        return f"({value[0]}, {value[1]})"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_pair(v) if isinstance(v, (list, tuple)) else str(v) for v in value) + ")"
    return repr(value) if isinstance(value, str) else str(value)


@register.filter
def keras_layer(layer: dict) -> str:
    """A layer as the Keras call a student would type: Conv2D(filters=16, kernel_size=(3, 3), ...)."""
    config = layer.get("config") or {}
    args = ", ".join(f"{k}={_pair(v)}" for k, v in config.items())
    return f"{layer.get('class_name', '?')}({args})"


@register.filter
def shape(value) -> str:
    return "(" + ", ".join(str(v) for v in value) + ")" if isinstance(value, (list, tuple)) else str(value)


@register.filter
def kernel_color(value) -> str:
    """Blue for negative, red for positive coefficients, white for 0 (a picture of the kernel)."""
    v = max(-1.0, min(1.0, float(value) / 4.0))
    if v >= 0:
        return f"rgb(255,{int(255 * (1 - v))},{int(255 * (1 - v))})"
    return f"rgb({int(255 * (1 + v))},{int(255 * (1 + v))},255)"


@register.filter
def fmt_coef(value) -> str:
    f = float(value)
    return str(int(f)) if f.is_integer() else f"{f:.3g}"


@register.filter
def type_label(exercise) -> str:
    """An exercise type's name in the reader's language (never its code name)."""
    from config.i18n import localize
    from exercises.types import REGISTRY

    exercise_type = REGISTRY.get(getattr(exercise, "type", exercise))
    return localize(exercise_type.label) if exercise_type else ""


@register.filter
def kernel_words(kernel) -> str:
    """A kernel as a screen reader should read it: row by row, in the page's language."""
    from django.utils.translation import gettext as _

    rows = [", ".join(fmt_coef(value) for value in row) for row in kernel]
    return "; ".join(_("row %(n)s: %(values)s") % {"n": index, "values": row} for index, row in enumerate(rows, start=1))


@register.simple_tag
def kernel_cells() -> list[dict]:
    """The nine inputs of a 3×3 kernel, each with its row and column (1-based) for its label."""
    return [{"index": index, "row": index // 3 + 1, "col": index % 3 + 1} for index in range(9)]


@register.filter
def kernel_effect(kernel) -> dict | None:
    """A picture of what a kernel does: a crop of one of the course's images before and after
    it, as base64 PNGs (small, so they travel inside the page)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from grader.convolution import apply_kernel
    from grader.images import IMAGE_NAMES, load_image

    try:
        image = load_image(IMAGE_NAMES[0]).astype(np.float64)
        side = min(image.shape[:2], default=0)
        crop = image[:min(side, 64), :min(side, 64)]
        after = apply_kernel(crop, np.array(kernel, dtype=np.float64), "same")
    except (ValueError, TypeError, IndexError):
        return None

    def png(array) -> str:
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.asarray(array), 0, 255).astype(np.uint8)).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    return {"before": png(crop), "after": png(np.abs(after) if float(np.sum(kernel)) == 0 else after)}
@register.inclusion_tag("exercises/partials/device_budget.html", takes_context=True)
def device_budget(context, course):
    """The student's worker time left today in ``course`` and the estimated wait (the same
    figures as ``GET /api/v1/courses/{slug}/device-budget``)."""
    from exercises.jobs import device_budget_for

    request = context.get("request")
    if request is None or not request.user.is_authenticated or course is None:
        return {"budget": None}
    return {"budget": device_budget_for(user=request.user, course=course)}
