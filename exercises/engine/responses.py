"""Responses for private files: a student's pictures are served only through views that check
who asks, never from a public media URL."""
from __future__ import annotations

from django.http import FileResponse, HttpResponse


def private_png(content, *, filename: str, max_age: int = 3600) -> HttpResponse:
    """A PNG shown inline, never sniffed as another type, cached by the browser alone.

    ``content`` is bytes or an open binary file (streamed)."""
    if isinstance(content, (bytes, bytearray)):
        response = HttpResponse(content, content_type="image/png")
    else:
        response = FileResponse(content, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


def form_result(request, *, error: str | None, status: int, template: str, context, fallback) -> HttpResponse:
    """The answer to a form post of the exercise pages.

    HTMX gets ``template`` rendered with ``context()`` (called only then) and ``error``, with a
    200 (HTMX swaps only 2xx) and the real status in ``X-Stride-Status``. A plain post is
    redirected to ``fallback``, the error shown as a message.
    """
    from django.contrib import messages
    from django.shortcuts import render

    if not request.headers.get("HX-Request"):
        if error:
            messages.error(request, error)
        return fallback
    response = render(request, template, {**context(), "error": error})
    response["X-Stride-Status"] = str(status)
    return response


def page_of(request, rows, *, per_page: int):
    """One page of ``rows`` (``?page=N``, the first page for anything else), for long lists
    such as a student's submissions or generations; ``pager.html`` draws its links."""
    from django.core.paginator import Paginator

    return Paginator(rows, per_page).get_page(request.GET.get("page"))
