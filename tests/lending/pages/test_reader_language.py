"""What the system writes reads in the reader's language, not the actor's (issue #9, item 9):
a hand-out done by someone reading Japanese shows in English on an English page, and the other
way round; a person's own words stay as typed."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from lending import services
from lending.models import AccessRequest, RequestStatus, ReturnCondition
from terminals import services as inventory
from terminals.models import Movement
from tests.lending.pages.conftest import submit


def history(client, terminal, lang):
    client.cookies["django_language"] = lang
    return client.get(reverse("terminals:detail", args=[terminal.asset_tag])).content.decode()


@pytest.fixture
def lent_in_japanese(approved, terminals, card, facilities):
    with translation.override("ja"):
        return services.loan_checkout(
            request=approved,
            terminal=terminals[0],
            actor=facilities,
            operator_name="山田 太郎",
            acknowledged_name="山田 太郎",
        )


def test_a_hand_out_done_in_japanese_reads_in_english_and_in_japanese(
    as_user, lent_in_japanese, facilities, approved
):
    client = as_user(facilities)
    english = history(client, lent_in_japanese.terminal, "en")
    assert f"Lent for request #{approved.pk}" in english
    assert "により貸与" not in english
    japanese = history(client, lent_in_japanese.terminal, "ja")
    assert f"貸与申請 #{approved.pk} により貸与" in japanese


def test_the_api_gives_the_reason_in_the_callers_language(lent_in_japanese, facilities, client):
    client.force_login(facilities)
    url = f"/api/v1/terminals/{lent_in_japanese.terminal.asset_tag}/history/"
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").json()
    reasons = [row["reason"] for row in english.get("results", english)]
    assert any(r.startswith("Lent for request #") for r in reasons), reasons


def test_a_return_condition_reads_in_the_readers_language(
    as_user, lent_in_japanese, facilities, cabinet
):
    with translation.override("ja"):
        services.loan_return(
            loan=lent_in_japanese,
            actor=facilities,
            condition=ReturnCondition.OK,
            cards_returned=lent_in_japanese.cards.all(),
            return_location=cabinet,
            handed_back_by="山田 太郎",
            operator_signature="山田太郎",
            data_disposition="destroyed",
        )
    english = history(as_user(facilities), lent_in_japanese.terminal, "en")
    assert "異常なし" not in english
    movement = lent_in_japanese.terminal.movements.order_by("-pk").first()
    with translation.override("en"):
        assert movement.reason_text == "OK"
    with translation.override("ja"):
        assert movement.reason_text == "異常なし"


def test_a_persons_own_reason_stays_as_typed(as_user, facilities, terminals):
    with translation.override("en"):
        inventory.terminal_send_to_maintenance(
            terminal=terminals[1], actor=facilities, reason="画面割れ"
        )
    assert "画面割れ" in history(as_user(facilities), terminals[1], "en")


def test_requests_cancelled_by_a_lift_say_why_in_the_readers_language(
    as_user, declaration, contractor, security
):
    request = submit(contractor, declaration, quantity=1)
    with translation.override("ja"):
        services.declaration_lift(declaration=declaration, actor=security)
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELLED
    client = as_user(contractor)
    page = client.get(reverse("lending:request", args=[request.pk])).content.decode()
    assert "The declaration was lifted." in page
    client.cookies["django_language"] = "ja"
    page = client.get(reverse("lending:request", args=[request.pk])).content.decode()
    assert "The declaration was lifted." not in page


def test_the_acknowledgement_shows_the_readers_language_first(as_user, lent_in_japanese, security):
    client = as_user(security, lang="ja")
    page = client.get(reverse("lending:loan", args=[lent_in_japanese.pk])).content.decode()
    assert page.index("誓約します") < page.index("I will use this terminal")
    client.cookies["django_language"] = "en"
    page = client.get(reverse("lending:loan", args=[lent_in_japanese.pk])).content.decode()
    assert page.index("I will use this terminal") < page.index("誓約します")
    # What was signed is stored whole, in both languages, whatever the order shown.
    assert lent_in_japanese.acknowledgement_text == services.ACKNOWLEDGEMENT


def test_a_bad_contractor_code_is_explained_in_the_domains_words(as_user, facilities):
    page = as_user(facilities, lang="ja").post(
        reverse("lending:contractor-create"), {"code": "関東 電工", "name": "関東電工"}
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "slug" not in text.lower()
    assert "kanden-koji" in text


def test_the_admin_header_speaks_japanese(db, client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x-Pass-1234")
    client.force_login(admin)
    client.cookies["django_language"] = "ja"
    page = client.get("/admin/").content.decode()
    assert "NW設定端末管理" in page
    assert "NW-setting terminal" not in page
    client.cookies["django_language"] = "en"
    assert "NW-setting terminal management" in client.get("/admin/").content.decode()


def test_existing_reasons_are_turned_into_phrases_by_the_migration(
    lent_in_japanese, approved, declaration
):
    migration = importlib.import_module("lending.migrations.0003_system_phrases")

    moves = list(lent_in_japanese.terminal.movements.order_by("pk"))
    # As the rows looked before: text in whichever language the actor used.
    with translation.override("ja"):
        handed_out = translation.gettext("Hand-out for request #%(id)s") % {"id": approved.pk}
        lifted = translation.gettext("The declaration was lifted.")
    Movement.objects.filter(pk=moves[0].pk).update(reason=handed_out, reason_phrase=None)
    Movement.objects.filter(pk=moves[1].pk).update(
        reason=f"Lent for request #{approved.pk}", reason_phrase=None
    )
    typed = Movement.objects.create(
        terminal=lent_in_japanese.terminal,
        to_location=lent_in_japanese.terminal.location,
        to_status=lent_in_japanese.terminal.status,
        reason="棚の奥で発見",
    )
    AccessRequest.objects.filter(pk=approved.pk).update(decision_reason=lifted)

    migration.forwards(apps, None)

    moves[0].refresh_from_db()
    moves[1].refresh_from_db()
    typed.refresh_from_db()
    assert moves[0].reason_phrase == {"phrase": "lending.reserved", "params": {"id": approved.pk}}
    assert moves[1].reason_phrase == {"phrase": "lending.lent", "params": {"id": approved.pk}}
    assert (typed.reason, typed.reason_phrase) == ("棚の奥で発見", None)
    approved.refresh_from_db()
    assert (approved.decision_reason, approved.decision_phrase) == (
        "",
        {"phrase": "lending.declaration_lifted", "params": {}},
    )
