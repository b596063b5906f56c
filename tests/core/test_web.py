"""The pages' shared helpers: where a form may send the browser back to, and who may open a
page when it names several permissions."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.web import requires, requires_any, safe_next


@pytest.mark.parametrize(
    ("given", "sent_to"),
    [
        ("/terminals/NW-00001/", "/terminals/NW-00001/"),
        ("https://evil.example/login/", "/fallback/"),
        ("//evil.example/login/", "/fallback/"),
        ("javascript:alert(1)", "/fallback/"),
        ("", "/fallback/"),
    ],
)
def test_a_form_returns_only_to_a_page_of_this_site(given, sent_to):
    request = RequestFactory().post("/credentials/rotations/force/", {"next": given})
    assert safe_next(request, "/fallback/") == sent_to


def _page(request):
    return HttpResponse("ok")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "all_of", "any_of"),
    [
        ("facilities", 403, 200),  # holds add_loan, not add_declaration
        ("security", 403, 200),  # holds add_declaration, not add_loan
        ("contractor", 403, 403),
    ],
)
def test_requires_means_all_of_and_requires_any_one_of(request, role, all_of, any_of):
    perms = ("lending.add_loan", "lending.add_declaration")
    web = RequestFactory().get("/")
    web.user = request.getfixturevalue(role)
    for decorator, expected in ((requires, all_of), (requires_any, any_of)):
        view = decorator(*perms)(_page)
        if expected == 403:
            from django.core.exceptions import PermissionDenied

            with pytest.raises(PermissionDenied):
                view(web)
        else:
            assert view(web).status_code == 200


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    from django.contrib.auth.models import AnonymousUser

    web = RequestFactory().get("/lending/")
    web.user = AnonymousUser()
    for decorator in (requires, requires_any):
        response = decorator("lending.add_loan")(_page)(web)
        assert (response.status_code, response.url.split("?")[0]) == (302, "/login/")
