from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .services import api_token_create, api_token_revoke


@login_required
def profile(request):
    new_token = request.session.pop("new_api_token", None)
    return render(
        request,
        "accounts/profile.html",
        {"tokens": request.user.api_tokens.all(), "new_token": new_token},
    )


@login_required
@require_POST
def token_create(request):
    name = (request.POST.get("name") or "").strip() or _("My token")
    _token, raw = api_token_create(user=request.user, name=name)
    # Shown once on the next page, then gone: only the digest is kept.
    request.session["new_api_token"] = raw
    messages.success(request, _("Token created. Copy it now: it will not be shown again."))
    return redirect("accounts:profile")


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, _("Token revoked."))
    else:
        messages.error(request, _("This token does not exist or is already revoked."))
    return redirect("accounts:profile")


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): the lockout page in the
    browser, and the API's ``{"detail": ...}`` JSON error under /api/ (API.md, "Errors")."""
    from django.conf import settings
    from django.http import JsonResponse

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Too many failed logins: this account is locked for a while."},
                            status=settings.AXES_HTTP_RESPONSE_CODE)
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=settings.AXES_HTTP_RESPONSE_CODE)
