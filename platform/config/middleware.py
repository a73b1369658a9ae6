from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers


class LanguageMiddleware:
    """French unless the user picked another language with the switcher.

    Django's LocaleMiddleware would follow the browser's Accept-Language; Stride's course is
    French first, so only the explicit choice (the language cookie) changes it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if lang not in self.supported:
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", lang)
        patch_vary_headers(response, ("Cookie",))
        return response


class RequestSizeLimitMiddleware:
    """Refuse a request body over STRIDE_MAX_REQUEST_BYTES before Django reads it.

    Per-exercise file limits are checked again by the services; this is the hard ceiling
    that keeps a huge upload from filling the disk or the memory.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.STRIDE_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            from django.http import JsonResponse

            mb = round(limit / 2**20, 1)
            return JsonResponse({"detail": f"The request is too large: the limit is {mb} MB."}, status=413)
        return self.get_response(request)


# The errors of a database that is restarting or unreachable for a moment (a broken
# connection, a refused one): not a bug of the site, so never a 500.
def _database_errors() -> tuple[type[Exception], ...]:
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


RETRY_AFTER_SECONDS = 5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _drop_connections() -> None:
    """Close every connection of this thread, broken or not: the next query opens a new one."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception:  # noqa: BLE001 (closing a dead socket may fail in any way; it is gone anyway)
            pass


def database_unavailable_response(request):
    """503 + Retry-After: JSON under /api/, a short page elsewhere (no template: that may need the database)."""
    from django.http import HttpResponse, JsonResponse
    from django.utils.translation import gettext as _

    sentence = _("The database is unavailable for a moment. Please try again in a few seconds.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": sentence}, status=503)
    else:
        from django.utils.html import escape

        response = HttpResponse(
            f'<!doctype html><html lang="{getattr(request, "LANGUAGE_CODE", "fr")}"><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}"><title>Stride</title>'
            f"<p>{escape(sentence)}</p></html>", status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A database that drops for a moment (a PostgreSQL restart) gives a 503 with Retry-After.

    A read (GET, HEAD, OPTIONS) is tried once more on a new connection first: most requests that
    meet a restart then succeed. A write is not replayed (a part of it may have been committed),
    it gets the 503 and the client sends it again. Errors raised outside a view (a session saved
    on the way out) reach ``config.views.server_error``, which answers the same 503.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        errors = _database_errors()
        if not isinstance(exception, errors):
            return None
        _drop_connections()
        match = request.resolver_match
        if request.method in SAFE_METHODS and match is not None and not getattr(request, "_stride_db_retried", False):
            request._stride_db_retried = True
            try:
                return match.func(request, *match.args, **match.kwargs)
            except errors:
                _drop_connections()
        return database_unavailable_response(request)
