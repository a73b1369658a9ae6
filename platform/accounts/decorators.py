"""Views that a script may call with its API token as well as a browser with its session."""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse

from .services import api_token_authenticate


def login_or_bearer_required(view):
    """A page (a picture) whose URL the API hands out: ``Authorization: Bearer <token>`` opens
    it as it opens the API, a browser session opens it as any page. A wrong token is a 401
    (JSON, as the API answers), never the login page with a 200."""
    browser_view = login_required(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return browser_view(request, *args, **kwargs)
        user = api_token_authenticate(raw=header[7:].strip())
        if user is None:
            response = JsonResponse({"detail": "Authentication required: send a Bearer token or log in."}, status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
        request.user = user
        return view(request, *args, **kwargs)

    return wrapper
