from django import template

from credentials import selectors

register = template.Library()


@register.inclusion_tag("credentials/terminal_accounts.html", takes_context=True)
def terminal_accounts(context, terminal):
    """The accounts section of a terminal's page (login IDs and states, never a password)."""
    user = context["request"].user
    can_see = user.has_perm("credentials.view_account")
    return {
        "request": context["request"],
        "perms": context["perms"],
        "csrf_token": context.get("csrf_token"),
        "terminal": terminal,
        "can_see": can_see,
        "accounts": selectors.terminal_accounts(terminal=terminal) if can_see else [],
        "credential_blockers": selectors.credential_blockers(terminal=terminal) if can_see else [],
        "target_systems": selectors.target_system_queryset(user=user),
    }
