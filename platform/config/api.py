"""The public API v1 (see API.md): one NinjaAPI, routers from each app.

Every error is ``{"detail": "<clear sentence>"}`` with a 4xx status.
"""
from __future__ import annotations

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import SessionAuth as NinjaSessionAuth

from accounts.api import BearerTokenAuth
from accounts.api import router as auth_router


class SessionAuth(NinjaSessionAuth):
    """The browser's session, with ninja's CSRF check (and the same name in the OpenAPI).

    Without a logged-in session it is not a CSRF matter but a missing login: a script whose
    Bearer token is wrong or revoked gets the clear 401, not "CSRF check Failed"."""

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


api = NinjaAPI(
    title="Stride API",
    version="1",
    description="Courses, exercises and attempts of Stride. Authenticate with `Authorization: Bearer <token>` "
    "(get one from POST /api/v1/auth/token or your profile page) or a session cookie with CSRF.",
    urls_namespace="api",
    # Bearer first: scripts and notebooks; then the browser session, whose CSRF check ninja enforces.
    auth=[BearerTokenAuth(), SessionAuth()],
)


def _validation_sentence(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", []) if p not in ("body", "payload"))
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts) + "."


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    return api.create_response(request, {"detail": _validation_sentence(exc)}, status=400)


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return api.create_response(
        request, {"detail": "Authentication required: send a Bearer token or log in."}, status=401
    )


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


api.add_router("/auth", auth_router)


def _add_app_routers() -> None:
    from courses.api import router as courses_router
    from exercises.api import router as exercises_router
    from gradebook.api import router as gradebook_router

    api.add_router("/", courses_router)
    api.add_router("/", exercises_router)
    api.add_router("/", gradebook_router)


_add_app_routers()
