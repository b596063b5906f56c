from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from core.roles import Role, user_role


def roles(request) -> dict:
    role = user_role(request.user) if hasattr(request, "user") else None
    return {"user_role": role, "user_role_label": Role(role).label if role else ""}


def language_return(request: HttpRequest) -> dict:
    """Where the language switcher brings the person back to: the page they are looking at.
    After a refused form (a POST answered with the page and its errors) that is the page the
    form was on, not the form's POST-only address, which would answer 405."""
    if request.method in ("GET", "HEAD"):
        return {"language_return": request.get_full_path()}
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return {"language_return": parts.path + (f"?{parts.query}" if parts.query else "")}
    return {"language_return": "/"}
