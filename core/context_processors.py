from core.roles import Role, user_role


def roles(request) -> dict:
    role = user_role(request.user) if hasattr(request, "user") else None
    return {"user_role": role, "user_role_label": Role(role).label if role else ""}
