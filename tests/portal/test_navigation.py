"""The main menu: links grouped by task, each role only what its permissions allow."""

import pytest
from django.contrib.auth.models import Permission
from django.http import HttpResponse
from django.urls import path, reverse

from compliance import services as stocktakes
from config.urls import urlpatterns as site_urlpatterns
from core.roles import Role
from tests.factories import make_user


def _audit_page(request):
    return HttpResponse("audit")


# The audit trail's page under the name the menu looks for first ("audit"), for the tests that
# need it whatever the project's own URLs hold today.
urlpatterns = [path("audit-page/", _audit_page, name="audit"), *site_urlpatterns]

INVENTORY, LENDING, CREDENTIALS, STOCKTAKES = (
    "Inventory",
    "Lending",
    "Credentials",
    "Stock-takes and findings",
)


def test_facilities_staff_see_their_four_groups_and_the_links_of_their_work(menu_of, facilities):
    menu = menu_of(facilities)

    assert menu.groups == [INVENTORY, LENDING, CREDENTIALS, STOCKTAKES]
    assert menu.in_group(INVENTORY) == ["Terminals", "Locations", "Access cards", "Import"]
    assert menu.in_group(LENDING) == [
        "Declarations",
        "Access requests",
        "Request queue",
        "Check-out",
        "Return",
        "Loans",
        "Contractors",
        "Contractor supervision",
    ]
    assert menu.in_group(CREDENTIALS) == ["Rotations", "Target systems"]
    assert menu.in_group(STOCKTAKES) == ["Stock-takes", "Discrepancies"]
    assert menu.in_group(None) == ["Dashboard", "API tokens", "API docs"]
    assert reverse("lending:request-create") not in menu.hrefs()


@pytest.mark.urls(__name__)
def test_security_and_auditors_get_the_audit_trail_and_facilities_do_not(
    menu_of, security, auditor, facilities
):
    for reader in (security, auditor):
        menu = menu_of(reader)
        assert menu.link("Audit trail").href == "/audit-page/"
        # With the internal audit reports (compliance.audit_report) beside it, in one group.
        assert menu.link("Audit trail").group == "Audit"
        assert menu.link("Internal audit reports").group == "Audit"
    assert "/audit-page/" not in menu_of(facilities).hrefs()
    assert reverse("compliance:audit_report_list") not in menu_of(facilities).hrefs()


def test_auditors_read_every_list_but_see_no_link_to_a_change(menu_of, auditor):
    menu = menu_of(auditor)

    assert menu.groups == [INVENTORY, LENDING, CREDENTIALS, STOCKTAKES, "Audit"]
    for page in (
        "terminals:import",
        "lending:request-queue",
        "lending:checkout",
        "lending:returns",
    ):
        assert reverse(page) not in menu.hrefs(), page
    assert reverse("lending:loans") in menu.hrefs()


def test_a_contractor_gets_their_own_lending_links_in_the_bar_itself(menu_of, contractor):
    menu = menu_of(contractor)

    assert menu.groups == []  # one group only: its links need no drop-down
    assert menu.labels() == [
        "Dashboard",
        "Declarations",
        "Request terminals",
        "My requests",
        "My loans",
        "Supervision records",
        "API tokens",
        "API docs",
    ]
    for page in ("terminals:list", "lending:request-queue", "lending:checkout"):
        assert reverse(page) not in menu.hrefs(), page


def test_a_group_left_with_one_link_is_a_plain_link(menu_of, operator):
    user = make_user("reader", None, operator)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_terminal", "view_rotation"])
    )

    menu = menu_of(user)

    assert menu.groups == []
    assert menu.labels() == ["Dashboard", "Terminals", "Rotations", "API tokens", "API docs"]


def test_the_current_page_and_its_group_are_marked(menu_of, facilities):
    menu = menu_of(facilities, reverse("lending:checkout"))

    assert [link.label for link in menu.links if link.current] == ["Check-out"]
    assert menu.current_groups == [LENDING]


def test_a_detail_page_marks_its_list_and_group(menu_of, facilities, terminal):
    menu = menu_of(facilities, reverse("terminals:detail", args=[terminal.asset_tag]))

    assert [link.label for link in menu.links if link.current] == ["Terminals"]
    assert menu.current_groups == [INVENTORY]


def test_the_dashboard_marks_no_group(menu_of, security):
    menu = menu_of(security)
    assert [link.label for link in menu.links if link.current] == ["Dashboard"]
    assert menu.current_groups == []


def test_staff_get_the_admin_link_in_the_secondary_place(menu_of, operator):
    admin = make_user("root", Role.SECURITY, operator)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])

    assert menu_of(admin).link("Admin").href == reverse("admin:index")


def test_the_scanning_page_has_no_menu_but_a_way_back_and_the_languages(
    read_as, facilities, security, site, cabinet
):
    stocktake = stocktakes.stocktake_open(site=site, actor=security, reason="manual")

    page = read_as(facilities, reverse("compliance:stocktake_scan", args=[stocktake.pk]))

    assert 'class="main-nav"' not in page
    assert reverse("lending:loans") not in page
    back = reverse("compliance:stocktake_detail", args=[stocktake.pk])
    assert f'<a class="back-link" href="{back}">' in page
    assert reverse("set_language") in page
    # Other pages keep the menu.
    assert 'class="main-nav"' in read_as(facilities, back)
