"""The demo data lets a newcomer finish the whole lending journey with the demo logins (issue 9,
item 1): declare, request, approve, hand out, reveal, return, rotate, settle, lift and close,
with separation of duties on, as the README walks through it."""

import datetime

from django.utils import timezone

from core.models import User
from credentials.models import Account
from lending import services
from lending.models import DeclarationStatus
from terminals.models import Location, Terminal


def test_the_demo_users_finish_a_disaster_from_declaration_to_close(
    db, settings, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    settings.LENDING_SEPARATION_OF_DUTIES = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    users = {name: User.objects.get(username=name) for name in
             ("security", "contractor", "approver", "facilities")}  # fmt: skip
    site = Location.objects.get(kind=Location.Kind.SITE)

    with django_capture_on_commit_callbacks(execute=True):
        declaration = services.declaration_declare(
            actor=users["security"], title="台風10号", sites=[site]
        )
        request = services.access_request_submit(
            actor=users["contractor"],
            declaration=declaration,
            work_site="配電復旧現場",
            quantity=1,
            operators=["山田 太郎"],
            purpose="停電復旧作業",
            needed_until=timezone.now() + datetime.timedelta(days=2),
        )
        request = services.access_request_approve(request=request, actor=users["approver"])
        terminal = next(
            t
            for t in Terminal.objects.filter(status=Terminal.Status.IN_STORAGE).order_by(
                "asset_tag"
            )
            if not t.storage_warnings()
        )
        loan = services.loan_checkout(
            request=request,
            terminal=terminal,
            actor=users["facilities"],
            operator_name="山田 太郎",
            acknowledged_name="山田 太郎",
        )
        revealed = services.loan_reveal(loan=loan, actor=users["contractor"])
        assert len(revealed) == Account.objects.filter(terminal=terminal).count() == 2
        services.loan_return(
            loan=loan,
            actor=users["facilities"],
            condition="ok",
            cards_returned=list(loan.cards.all()),
            return_location=terminal.location,
            handed_back_by="山田 太郎",
            operator_signature="山田 太郎",
            data_disposition="destroyed",
        )
    # The return's rotations are sent once it commits (here, the eager worker runs them).
    with django_capture_on_commit_callbacks(execute=True):
        assert services.returned_terminals_settle() == 1
        services.declaration_lift(declaration=declaration, actor=users["security"])
        declaration = services.declaration_close(declaration=declaration, actor=users["security"])

    assert declaration.status == DeclarationStatus.CLOSED
    terminal.refresh_from_db()
    assert terminal.status == Terminal.Status.IN_STORAGE
    # New login IDs and passwords: what was revealed no longer signs in.
    for account, login_id, _password in revealed:
        account.refresh_from_db()
        assert account.login_id != login_id
