from .roles import Role, user_role


def roles(request):
    role = user_role(getattr(request, "user", None))
    return {
        "stride_role": role.value if role else "",
        "is_teacher": role in (Role.TEACHER, Role.ADMIN),
        "is_admin": role == Role.ADMIN,
    }
