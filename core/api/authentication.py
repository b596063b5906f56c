import hmac
from datetime import timedelta

from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from core.models import ApiToken
from core.tokens import token_expiry

# A token's last use is kept to the minute: writing it on every request would add an UPDATE (and
# a row lock every request of that token queues on) to each call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
                now = timezone.now()
                # Read from the row already loaded: refusing costs no query.
                if candidate.revoked_at is not None:
                    raise exceptions.AuthenticationFailed(_("This token was revoked."))
                if token_expiry(candidate) <= now:
                    raise exceptions.AuthenticationFailed(
                        _("This token expired on %(date)s. Create a new one.")
                        % {
                            "date": formats.date_format(
                                timezone.localtime(token_expiry(candidate)), "DATETIME_FORMAT"
                            )
                        }
                    )
                last = candidate.last_used_at
                if last is None or now - last >= LAST_USED_RESOLUTION:
                    # Conditional, so that concurrent requests of one token write it once.
                    ApiToken.objects.filter(pk=candidate.pk).filter(
                        models.Q(last_used_at__isnull=True)
                        | models.Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
                    ).update(last_used_at=now)
                return candidate.user, candidate
        raise exceptions.AuthenticationFailed(_("Invalid token."))

    def authenticate_header(self, request):
        return self.keyword
