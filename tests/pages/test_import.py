from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import AuditEvent
from terminals.models import Location, Terminal


def _upload(client, kind: str, text: str):
    csv_file = SimpleUploadedFile("inventory.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post(reverse("terminals:import"), {"kind": kind, "file": csv_file}, follow=True)


def test_importing_terminals_creates_them_and_says_how_many(as_user, facilities, cabinet):
    text = "asset_tag,hostname,location\nNW-I1,pc-i1,hq-cab-1\nNW-I2,pc-i2,hq-cab-1\n"

    response = _upload(as_user(facilities), "terminals", text)

    assert set(Terminal.objects.values_list("asset_tag", flat=True)) == {"NW-I1", "NW-I2"}
    messages = [str(message) for message in response.context["messages"]]
    assert len(messages) == 1
    assert "2" in messages[0]


def test_a_file_with_a_bad_row_shows_each_problem_and_writes_nothing(as_user, facilities, cabinet):
    events = AuditEvent.objects.count()
    text = "asset_tag,location\nNW-OK,hq-cab-1\nNW-BAD,nowhere\n"

    response = _upload(as_user(facilities), "terminals", text)

    page = response.content.decode()
    table = page.split('class="row-errors"', 1)[1]
    assert '<td class="num">3</td>' in table
    assert "<code>location</code>" in table
    assert "nowhere" in table
    assert not Terminal.objects.exists()
    assert AuditEvent.objects.count() == events


def test_importing_locations_builds_them_under_their_parent(as_user, facilities, cabinet):
    text = "code,name,kind,parent,secured\nhq-cab-9,保管庫9,cabinet,hq-b1-3f-sec,true\n"
    _upload(as_user(facilities), "locations", text)
    created = Location.objects.get(code="hq-cab-9")
    assert created.parent.code == "hq-b1-3f-sec"
    assert created.secured
