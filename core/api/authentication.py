import hmac

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from core.models import ApiToken


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>`; the token is looked up by prefix, compared by digest."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            token = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        digest = ApiToken.digest_of(token)
        for candidate in ApiToken.objects.select_related("user").filter(prefix=token[:8]):
            if hmac.compare_digest(candidate.digest, digest):
                if not candidate.user.is_active:
                    raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
                ApiToken.objects.filter(pk=candidate.pk).update(last_used_at=timezone.now())
                return candidate.user, candidate
        raise exceptions.AuthenticationFailed(_("Invalid token."))

    def authenticate_header(self, request):
        return self.keyword
