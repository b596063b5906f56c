import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from core.audit import record_event, seal_pending
from core.models import ApiToken, AuditEvent, Organization, User
from core.services import api_token_issue
from terminals.models import AccessCard, Location, Movement, Terminal
from terminals.services import access_card_lend
from tests.factories import PASSWORD, make_card, make_terminal
from tests.support.db import nothing_written

OUR_APPS = {"core", "terminals", "credentials", "lending", "compliance"}


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def every_kind_of_row(root, cabinet, contractor):
    terminal = make_terminal(location=cabinet)
    make_card(location=cabinet, terminal=terminal)
    record_event(actor=root, action="test.event", obj=terminal)
    api_token_issue(user=contractor)


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def our_models() -> list:
    return [model for model in admin.site._registry if model._meta.app_label in OUR_APPS]


def test_every_model_of_ours_is_in_the_admin():
    ours = {m._meta.label for app in OUR_APPS for m in apps.get_app_config(app).get_models()}
    assert {model._meta.label for model in our_models()} == ours


def test_a_superuser_opens_the_list_and_a_row_of_every_model(admin_client, every_kind_of_row):
    for model in our_models():
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200, model
        row = model._default_manager.first()
        if row is not None:  # the fixture builds rows of the inventory and the audit trail
            assert admin_client.get(admin_url(model, "change", row.pk)).status_code == 200, model


def test_the_users_list_shows_their_organization(admin_client, contractor):
    response = admin_client.get(admin_url(User, "changelist"))

    assert "関東電工" in response.content.decode()


def test_an_audit_event_can_be_read_but_not_saved_deleted_or_added(admin_client, root, cabinet):
    event_id = record_event(actor=root, action="test.event", obj=cabinet)
    seal_pending()
    event = AuditEvent.objects.get(pk=event_id)
    url = admin_url(AuditEvent, "change", event.pk)

    page = admin_client.get(url).content.decode()
    assert event.hash in page
    assert 'name="_save"' not in page
    assert admin_url(AuditEvent, "delete", event.pk) not in page

    assert admin_client.post(url, {"action": "forged"}).status_code == 403
    assert (
        admin_client.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code
        == 403
    )
    assert admin_client.get(admin_url(AuditEvent, "add")).status_code == 403
    event.refresh_from_db()
    assert event.action == "test.event"
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_movements_and_api_tokens_cannot_be_changed_in_the_admin(admin_client, every_kind_of_row):
    for model in (Movement, AuditEvent, ApiToken):
        row = model._default_manager.first()
        with nothing_written(row):
            assert admin_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
        assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_adding_a_terminal_in_the_admin_writes_one_event_and_its_first_movement(
    admin_client, cabinet, operator
):
    events_before = AuditEvent.objects.count()

    response = admin_client.post(
        admin_url(Terminal, "add"),
        {
            "asset_tag": "NW-0042",
            "serial_number": "SN42",
            "hostname": "nwpc-42",
            "model_name": "ThinkPad L14",
            "location": cabinet.pk,
            "custodian": operator.pk,
            "notes": "",
        },
    )

    assert response.status_code == 302, response.content.decode()
    terminal = Terminal.objects.get(asset_tag="NW-0042")
    assert terminal.status == Terminal.Status.IN_STORAGE
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.order_by("-id").first()  # not sealed yet on PostgreSQL
    assert (event.action, event.object_id, event.actor_username) == (
        "terminal.created",
        str(terminal.pk),
        "root",
    )
    movement = terminal.movements.get()
    assert (movement.to_location, movement.to_status) == (cabinet, Terminal.Status.IN_STORAGE)


def test_changing_a_terminal_in_the_admin_leaves_its_status_and_location_alone(
    admin_client, cabinet, open_room, operator
):
    terminal = make_terminal(location=cabinet, asset_tag="NW-0001", hostname="old")

    response = admin_client.post(
        admin_url(Terminal, "change", terminal.pk),
        {
            "serial_number": terminal.serial_number,
            "hostname": "new",
            "model_name": terminal.model_name,
            "custodian": operator.pk,
            "notes": "",
            "status": Terminal.Status.LOST,
            "location": open_room.pk,
            "asset_tag": "NW-9999",
        },
    )

    assert response.status_code == 302
    terminal.refresh_from_db()
    assert (terminal.asset_tag, terminal.hostname) == ("NW-0001", "new")
    assert (terminal.status, terminal.location) == (Terminal.Status.IN_STORAGE, cabinet)
    assert terminal.movements.count() == 1
    assert (
        AuditEvent.objects.filter(action="terminal.updated", object_id=str(terminal.pk)).count()
        == 1
    )


def _add_terminal(client, cabinet, operator, **values):
    return client.post(
        admin_url(Terminal, "add"),
        {
            "asset_tag": "NW-0042",
            "serial_number": "",
            "hostname": "",
            "model_name": "",
            "location": cabinet.pk,
            "custodian": operator.pk,
            "notes": "",
            **values,
        },
    )


@pytest.mark.parametrize("typed", ["nw-0043", "ＮＷ－００４３", " NW-0043 "])
def test_the_admin_stores_an_asset_tag_as_the_pages_do(admin_client, cabinet, operator, typed):
    response = _add_terminal(admin_client, cabinet, operator, asset_tag=typed)

    assert response.status_code == 302, response.content.decode()
    assert list(Terminal.objects.values_list("asset_tag", flat=True)) == ["NW-0043"]


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("asset_tag", "NW/1", "no slash (/)"),
        ("asset_tag", "...", "not only dots"),
        ("asset_tag", "nw-0001", "already exists"),
        ("hostname", "bad_host!", "Enter a valid hostname"),
    ],
)
def test_the_admin_refuses_a_terminal_the_services_refuse_with_a_form_error(
    admin_client, cabinet, operator, field, typed, message
):
    make_terminal(location=cabinet, asset_tag="NW-0001")
    admin_client.cookies["django_language"] = "en"

    with nothing_written(Terminal, AuditEvent):
        response = _add_terminal(admin_client, cabinet, operator, **{field: typed})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field]), errors


@pytest.mark.parametrize(
    ("typed", "stored", "message"),
    [("ｃ-0007", "C-0007", None), ("C/7", None, "no slash (/)"), ("..", None, "not only dots")],
)
def test_the_admin_stores_a_card_number_as_the_pages_do_or_says_why_not(
    admin_client, cabinet, typed, stored, message
):
    admin_client.cookies["django_language"] = "en"
    response = admin_client.post(
        admin_url(AccessCard, "add"),
        {
            "card_number": typed,
            "kind": AccessCard.Kind.values[0],
            "location": cabinet.pk,
            "terminal": "",
            "notes": "",
        },
    )

    if stored:
        assert response.status_code == 302, response.content.decode()
        assert list(AccessCard.objects.values_list("card_number", flat=True)) == [stored]
    else:
        assert response.status_code == 200
        assert not AccessCard.objects.exists()
        errors = response.context["adminform"].form.errors
        assert message in " ".join(errors["card_number"]), errors


def test_adding_a_location_in_the_admin_computes_its_place_in_the_tree(
    admin_client, site, operator
):
    response = admin_client.post(
        admin_url(Location, "add"),
        {
            "code": "hq-b7",
            "name": "第七ビル",
            "kind": "building",
            "parent": site.pk,
            "custodian": operator.pk,
            "secured": "on",
            "address": "",
        },
    )

    assert response.status_code == 302
    building = Location.objects.get(code="hq-b7")
    assert (building.site, building.path) == (site, f"{site.path}{building.pk:08d}/")
    assert AuditEvent.objects.filter(action="location.created", object_id=str(building.pk)).exists()


def test_the_admin_refuses_a_location_nested_wrongly_and_writes_nothing(
    admin_client, cabinet, operator
):
    events_before = AuditEvent.objects.count()

    response = admin_client.post(
        admin_url(Location, "add"),
        {
            "code": "in-cab",
            "name": "x",
            "kind": "building",
            "parent": cabinet.pk,
            "custodian": operator.pk,
        },
    )

    assert response.status_code == 200
    assert "in-cab" not in Location.objects.values_list("code", flat=True)
    assert response.context["adminform"].form.errors["parent"]
    assert AuditEvent.objects.count() == events_before


def test_adding_an_organization_in_the_admin_writes_its_event(admin_client):
    response = admin_client.post(
        admin_url(Organization, "add"), {"code": "new-co", "name": "新会社", "kind": "contractor"}
    )

    assert response.status_code == 302
    organization = Organization.objects.get(code="new-co")
    assert AuditEvent.objects.filter(
        action="organization.created", object_id=str(organization.pk)
    ).exists()


def test_an_access_card_status_is_read_only_and_a_lent_card_cannot_be_changed(
    admin_client, cabinet
):
    card = make_card(location=cabinet, notes="")
    url = admin_url(AccessCard, "change", card.pk)

    response = admin_client.post(
        url, {"location": cabinet.pk, "notes": "checked", "status": "lost"}
    )

    assert response.status_code == 302
    card.refresh_from_db()
    assert (card.notes, card.status) == ("checked", AccessCard.Status.IN_STORAGE)
    assert AuditEvent.objects.filter(action="access_card.updated", object_id=str(card.pk)).exists()

    access_card_lend(card=card, actor=None)
    with nothing_written(card):
        assert admin_client.post(url, {"location": cabinet.pk, "notes": "again"}).status_code == 403
