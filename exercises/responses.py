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
