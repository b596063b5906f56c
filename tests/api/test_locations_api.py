from core.models import AuditEvent
from tests.factories import make_location
from tests.support.db import nothing_written

LOCATIONS = "/api/v1/locations/"


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_facilities_staff_add_a_building_under_a_site_by_codes(api_as, facilities, site):
    response = api_as(facilities).post(
        LOCATIONS,
        {
            "code": "hq-b3",
            "name": "新館",
            "kind": "building",
            "parent": "hq",
            "custodian": "tepco-pg",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["parent"], body["site"], body["custodian"]) == ("hq", "hq", "tepco-pg")
    assert body["secured"] is False
    assert AuditEvent.objects.filter(action="location.created", actor=facilities).count() == 1


def test_a_cabinet_directly_under_a_site_is_refused_on_the_parent(api_as, facilities, site):
    with nothing_written():
        response = api_as(facilities).post(
            LOCATIONS,
            {"code": "cab-x", "name": "X", "kind": "cabinet", "custodian": "tepco-pg"},
            format="json",
        )

    assert response.status_code == 400
    assert "parent" in response.json()


def test_an_unknown_parent_code_is_named_in_the_message(api_as, facilities, site):
    with nothing_written():
        response = api_as(facilities).post(
            LOCATIONS,
            {
                "code": "b-x",
                "name": "X",
                "kind": "building",
                "parent": "atlantis",
                "custodian": "tepco-pg",
            },
            format="json",
        )

    assert response.status_code == 400
    assert "atlantis" in response.json()["parent"][0]


def test_locations_filter_by_kind_site_and_parent(api_as, auditor, cabinet, operator):
    branch = make_location(code="branch", custodian=operator)
    make_location(kind="building", parent=branch, code="branch-b1")
    client = api_as(auditor)

    assert sorted(_codes(client.get(LOCATIONS, {"kind": "site"}))) == ["branch", "hq"]
    assert _codes(client.get(LOCATIONS, {"site": "branch"})) == ["branch", "branch-b1"]
    assert _codes(client.get(LOCATIONS, {"parent": "hq-b1-3f-sec"})) == ["hq-cab-1"]


def test_securing_a_room_is_an_update_with_an_event(api_as, facilities, open_room):
    response = api_as(facilities).patch(
        f"{LOCATIONS}{open_room.code}/", {"secured": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["secured"] is True
    assert response.json()["name"] == "ロビー"
    event = AuditEvent.objects.get(action="location.updated")
    assert event.details == {"secured": [False, True]}


def test_facilities_set_a_sites_stocktake_interval_within_its_range(api_as, facilities, site):
    response = api_as(facilities).patch(
        f"/api/v1/locations/{site.code}/", {"stocktake_interval_days": 90}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["stocktake_interval_days"] == 90
    with nothing_written(site):
        bad = api_as(facilities).patch(
            f"/api/v1/locations/{site.code}/", {"stocktake_interval_days": 0}, format="json"
        )
    assert bad.status_code == 400
    assert "stocktake_interval_days" in bad.json()
