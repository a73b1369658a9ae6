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


@register.inclusion_tag("exercises/partials/device_budget.html", takes_context=True)
def device_budget(context, course):
    """The student's worker time left today in ``course`` and the estimated wait (the same
    figures as ``GET /api/v1/courses/{slug}/device-budget``)."""
    from exercises.jobs import device_budget_for

    request = context.get("request")
    if request is None or not request.user.is_authenticated or course is None:
        return {"budget": None}
    return {"budget": device_budget_for(user=request.user, course=course)}
