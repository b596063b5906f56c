"""Who may open which lending page: anonymous visitors log in first, a role without the
permission gets 403, a permitted role sees the page's content."""

import pytest
from django.urls import reverse

from core.models import AuditEvent
from lending.models import AccessRequest, Declaration, Loan

PERSONAS = ["facilities", "security", "auditor", "contractor"]

# name, how to build its kwargs from the world, who may open it, text the page must show.
PAGES = [
    ("declarations", None, PERSONAS, "台風10号"),
    ("declaration-create", None, ["security"], "Declare a disaster"),
    ("declaration", "declaration", PERSONAS, "台風10号"),
    ("declaration-report", "declaration", ["facilities", "security", "auditor"], "NW-00001"),
    ("declaration-report-csv", "declaration", ["facilities", "security", "auditor"], "NW-00001"),
    ("requests", None, PERSONAS, "千葉県館山市"),
    ("request-create", None, ["contractor"], "Submit the request"),
    ("request-queue", None, ["facilities"], "Request queue"),
    ("request", "request", PERSONAS, "千葉県館山市"),
    ("loans", None, PERSONAS, "NW-00001"),
    ("loan", "loan", PERSONAS, "NW-00001"),
    ("loan-credentials", "loan", ["contractor"], "Show them once"),
    ("return", "loan", ["facilities"], "Confirm the return"),
    ("checkout", None, ["facilities"], "Counter: check-out"),
    ("returns", None, ["facilities"], "NW-00001"),
    ("contractors", None, ["facilities", "security", "auditor"], "関東電工"),
    ("contractor-create", None, ["facilities"], "Add a contractor"),
    ("contractor-user-create", "organization", ["facilities"], "Add a user to 関東電工"),
]
POSTS = [
    ("declaration-lift", "declaration", ["security"]),
    ("declaration-close", "declaration", ["security"]),
    ("request-approve", "request", ["facilities"]),
    ("request-reject", "request", ["facilities"]),
    ("loan-revoke", "loan", ["security"]),
    ("loan-lost", "loan", ["security"]),
]


@pytest.fixture
def world(loan, contractor_org):
    return {
        "declaration": {"pk": loan.request.declaration_id},
        "request": {"pk": loan.request_id},
        "loan": {"pk": loan.pk},
        "organization": {"code": contractor_org.code},
        None: {},
    }


def _ids(rows):
    return [row[0] for row in rows]


# Nobody is asked who they are before they log in: the objects need not exist.
ANY_OBJECT = {
    "declaration": {"pk": 1},
    "request": {"pk": 1},
    "loan": {"pk": 1},
    "organization": {"code": "any"},
    None: {},
}

REFUSED_POSTS = [
    (name, kwargs, persona)
    for name, kwargs, who in POSTS
    for persona in PERSONAS
    if persona not in who
]


@pytest.mark.parametrize(("name", "kwargs", "_who", "_text"), PAGES, ids=_ids(PAGES))
def test_an_anonymous_visitor_is_sent_to_the_login_page(as_user, db, name, kwargs, _who, _text):
    url = reverse(f"lending:{name}", kwargs=ANY_OBJECT[kwargs])
    response = as_user(None).get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(("name", "kwargs", "who", "text"), PAGES, ids=_ids(PAGES))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_opens_exactly_the_pages_it_is_allowed(
    request, as_user, world, persona, name, kwargs, who, text
):
    response = as_user(request.getfixturevalue(persona)).get(
        reverse(f"lending:{name}", kwargs=world[kwargs])
    )
    if persona in who:
        assert response.status_code == 200
        assert text in response.content.decode("utf-8-sig")
    else:
        assert response.status_code == 403
        assert "NW-00001" not in response.content.decode()


@pytest.mark.parametrize(
    ("name", "kwargs", "persona"),
    REFUSED_POSTS,
    ids=[f"{name}-{persona}" for name, _kwargs, persona in REFUSED_POSTS],
)
def test_a_role_without_the_permission_cannot_post_an_action(
    request, as_user, world, persona, name, kwargs
):
    before = AuditEvent.objects.count()
    states = (
        list(Declaration.objects.values_list("status", flat=True)),
        list(AccessRequest.objects.values_list("status", flat=True)),
        list(Loan.objects.values_list("status", "revoked_at")),
    )
    response = as_user(request.getfixturevalue(persona)).post(
        reverse(f"lending:{name}", kwargs=world[kwargs]), {"reason": "test"}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    assert states == (
        list(Declaration.objects.values_list("status", flat=True)),
        list(AccessRequest.objects.values_list("status", flat=True)),
        list(Loan.objects.values_list("status", "revoked_at")),
    )


def test_the_navigation_shows_each_role_its_lending_pages(as_user, world, facilities, contractor):
    staff_page = as_user(facilities).get(reverse("dashboard")).content.decode()
    for name in ("checkout", "returns", "request-queue", "contractors", "loans"):
        assert reverse(f"lending:{name}") in staff_page
    assert reverse("lending:request-create") not in staff_page

    contractor_page = as_user(contractor).get(reverse("dashboard")).content.decode()
    assert "My requests" in contractor_page
    assert "My loans" in contractor_page
    for name in ("checkout", "returns", "request-queue", "contractors"):
        assert reverse(f"lending:{name}") not in contractor_page


def test_auditors_read_the_contractors_and_their_users_but_add_nobody(as_user, world, auditor):
    body = as_user(auditor).get(reverse("lending:contractors")).content.decode()
    assert "関東電工" in body
    assert "Add a user" not in body
    assert "Add a contractor" not in body
