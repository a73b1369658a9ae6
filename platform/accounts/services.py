from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.prepared import prepared

from .models import ApiToken, token_digest
from .roles import Role, roles_ensure_groups

User = get_user_model()


@transaction.atomic
def user_create(*, username: str, role: Role, password: str | None = None, email: str = "") -> tuple[object, str]:
    """Create (or update) a user with one role. Returns the user and the password set."""
    roles_ensure_groups()
    password = password or secrets.token_urlsafe(12)
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN
    user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    return user, password


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and never stored."""
    raw = ApiToken.PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:100] or "token", digest=token_digest(raw), hint=raw[:10])
    return token, raw


def api_token_revoke(*, user, token_id: int) -> bool:
    return bool(ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now()))


@prepared
def _token_with_roles(*, digest: str):
    # The user's role groups come in the same query (every API call asks ``user_role``): one
    # indexed query authenticates and says who the caller is, for this request only. Compiled
    # once per connection (``config.prepared``): every API call runs it.
    in_group = User.groups.through.objects.filter(user_id=OuterRef("user_id"))
    return (
        ApiToken.objects.select_related("user")
        .filter(digest=digest, revoked_at__isnull=True, user__is_active=True)
        .annotate(in_admin=Exists(in_group.filter(group__name=Role.ADMIN.value)),
                  in_teacher=Exists(in_group.filter(group__name=Role.TEACHER.value)))
        .order_by()[:1]
    )


def api_token_authenticate(*, raw: str):
    """The user a raw token belongs to, or None. Also records its last use."""
    if not raw or not raw.startswith(ApiToken.PREFIX):
        return None
    token = _token_with_roles.first(digest=token_digest(raw))
    if token is None:
        return None
    token.user._stride_role = (Role.ADMIN if token.in_admin else Role.TEACHER if token.in_teacher
                               else Role.STUDENT)
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
