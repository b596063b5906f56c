"""Moving the stock-take models from terminals/ to compliance/ loses nothing: rows written under
the old layout are all there afterwards, under compliance's tables, with the account and loan
ids that were kept in `details` turned into foreign keys, and the permissions still granted."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from tests.support.db import migrate_to

BEFORE = [
    ("terminals", "0002_stocktakes_and_discrepancies"),
    ("credentials", "0001_initial"),
    ("lending", "0001_initial"),
]


@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_every_row_and_turns_ids_into_foreign_keys():
    old = migrate_to(BEFORE)
    now = timezone.now()
    Organization = old.get_model("core", "Organization")
    User = old.get_model("core", "User")
    Location = old.get_model("terminals", "Location")
    Terminal = old.get_model("terminals", "Terminal")
    ContentType = old.get_model("contenttypes", "ContentType")
    OldPermission = old.get_model("auth", "Permission")
    OldGroup = old.get_model("auth", "Group")

    operator = Organization.objects.create(code="op", name="送配電", kind="network_operator")
    contractor = Organization.objects.create(code="ct", name="電設", kind="contractor")
    user = User.objects.create(username="sec", password="!")
    site = Location.objects.create(code="s", name="本店", kind="site", path="s", custodian=operator)
    terminal = Terminal.objects.create(asset_tag="NW-1", location=site, custodian=operator)
    target = old.get_model("credentials", "TargetSystem").objects.create(
        code="ldap", name="LDAP", connector="local"
    )
    account = old.get_model("credentials", "Account").objects.create(
        target_system=target, terminal=terminal, login_id="u1"
    )
    declaration = old.get_model("lending", "Declaration").objects.create(
        title="台風", declared_at=now, declared_by=user
    )
    request = old.get_model("lending", "AccessRequest").objects.create(
        declaration=declaration, contractor=contractor, submitted_by=user, work_site="現場",
        quantity=1, purpose="復旧", needed_until=now,
    )  # fmt: skip
    loan = old.get_model("lending", "Loan").objects.create(
        request=request, terminal=terminal, work_site="現場", operator_name="山田",
        handed_out_by=user, checked_out_at=now, due_at=now, acknowledgement_text="誓約",
        acknowledged_name="山田", acknowledged_at=now,
    )  # fmt: skip
    StockTake = old.get_model("terminals", "StockTake")
    stocktake = StockTake.objects.create(
        site=site, reason="manual", opened_at=now, due_at=now, opened_by=user
    )
    old.get_model("terminals", "StockTakeExpectation").objects.create(
        stocktake=stocktake, terminal=terminal, location=site, status="in_storage"
    )
    old.get_model("terminals", "Scan").objects.create(
        stocktake=stocktake, location=site, tag="NW-1", terminal=terminal,
        result="expected_here", scanned_by=user,
    )  # fmt: skip
    Discrepancy = old.get_model("terminals", "Discrepancy")
    finding = Discrepancy.objects.create(
        kind="unlocked_not_lent", subject=f"account:{account.pk}", terminal=terminal,
        details={"account": account.pk, "login_id": "u1", "target_system": "ldap"},
    )  # fmt: skip
    card = Discrepancy.objects.create(
        kind="card_not_returned", subject="IC-1", terminal=terminal,
        details={"loan": loan.pk, "contractor": "ct"},
    )  # fmt: skip
    gone = Discrepancy.objects.create(
        kind="secret_too_old", subject="account:999", details={"account": 999}
    )
    missing = Discrepancy.objects.create(kind="missing", subject="NW-1", stocktake=stocktake)
    old.get_model("terminals", "DiscrepancyEvidence").objects.create(
        discrepancy=missing, file="evidence/2026/11/photo.png", uploaded_by=user
    )
    # A role holding a permission on a moved model before the move.
    stocktake_type, _ = ContentType.objects.get_or_create(app_label="terminals", model="stocktake")
    change_stocktake, _ = OldPermission.objects.get_or_create(
        content_type=stocktake_type, codename="change_stocktake",
        defaults={"name": "Can change stock-take"},
    )  # fmt: skip
    reviewers = OldGroup.objects.create(name="reviewers")
    reviewers.permissions.add(change_stocktake)

    migrate_to()

    from compliance.models import (
        Discrepancy as NewDiscrepancy,
    )
    from compliance.models import (
        DiscrepancyEvidence,
        Scan,
        StockTakeExpectation,
    )
    from compliance.models import (
        StockTake as NewStockTake,
    )

    assert NewStockTake._meta.db_table == "compliance_stocktake"
    moved = NewStockTake.objects.get(pk=stocktake.pk)
    assert (moved.site_id, moved.reason, moved.opened_by_id) == (site.pk, "manual", user.pk)
    assert StockTakeExpectation.objects.filter(stocktake=moved, terminal_id=terminal.pk).exists()
    assert Scan.objects.get(stocktake=moved).tag == "NW-1"
    assert NewDiscrepancy.objects.count() == 4
    assert DiscrepancyEvidence.objects.get().discrepancy_id == missing.pk

    finding = NewDiscrepancy.objects.get(pk=finding.pk)
    assert finding.account_id == account.pk
    assert finding.details == {"login_id": "u1", "target_system": "ldap"}
    card = NewDiscrepancy.objects.get(pk=card.pk)
    assert (card.loan_id, card.details) == (loan.pk, {"contractor": "ct"})
    # An id that no longer resolves stays where it was: nothing recorded is lost.
    gone = NewDiscrepancy.objects.get(pk=gone.pk)
    assert (gone.account_id, gone.details) == (None, {"account": 999})

    permission = Permission.objects.get(codename="change_stocktake")
    assert permission.content_type.app_label == "compliance"
    assert Group.objects.get(name="reviewers").permissions.filter(pk=permission.pk).exists()


@pytest.mark.django_db
def test_events_written_before_the_move_are_found_under_either_spelling(api_as, security):
    from compliance.models import StockTake
    from core.audit import record_event
    from tests.factories import make_location

    site = make_location(code="mv", name="移設")
    stocktake = StockTake.objects.create(site=site, reason="manual", opened_at=timezone.now(),
                                         due_at=timezone.now())  # fmt: skip
    record_event(actor=None, action="stocktake.opened", object_type="terminals.stocktake",
                 object_id=str(stocktake.pk))  # fmt: skip
    record_event(actor=None, action="stocktake.closed", obj=stocktake)
    client = api_as(security)
    for spelling in ("compliance.stocktake", "terminals.stocktake", "Compliance.StockTake"):
        found = client.get(
            "/api/v1/events/", {"object_type": spelling, "object_id": stocktake.pk}
        ).json()
        rows = found["results"] if isinstance(found, dict) else found
        assert sorted(row["action"] for row in rows) == ["stocktake.closed", "stocktake.opened"]
