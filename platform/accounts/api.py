"""API authentication: bearer tokens, sessions (CSRF enforced), and the token endpoint."""
from __future__ import annotations

from django.contrib.auth import authenticate
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer

from .services import api_token_authenticate, api_token_create


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = api_token_authenticate(raw=token)
        if user is not None:
            request.user = user
        return user


router = Router(tags=["auth"])


class Credentials(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str


class ErrorOut(Schema):
    detail: str


@router.post("/token", response={200: TokenOut, 401: ErrorOut, 429: ErrorOut}, auth=None, summary="Exchange a username and password for an API token")
def token_obtain(request, payload: Credentials):
    if "\x00" in payload.username or "\x00" in payload.password:
        # No account has one, and PostgreSQL refuses them in a query (a 500).
        raise HttpError(401, "Wrong username or password.")
    # authenticate() goes through django-axes, so brute force is locked out here too.
    user = authenticate(request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        raise HttpError(429, "Too many failed logins: this account is locked for a while.")
    if user is None or not user.is_active:
        raise HttpError(401, "Wrong username or password.")
    _token, raw = api_token_create(user=user, name="API")
    return {"token": raw}
