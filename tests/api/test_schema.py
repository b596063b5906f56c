from django.core.management import call_command

PATHS = {
    "/api/v1/auth/token/",
    "/api/v1/organizations/",
    "/api/v1/organizations/{code}/",
    "/api/v1/locations/",
    "/api/v1/locations/{code}/",
    "/api/v1/terminals/",
    "/api/v1/terminals/{asset_tag}/",
    "/api/v1/terminals/{asset_tag}/move/",
    "/api/v1/terminals/{asset_tag}/maintenance/",
    "/api/v1/terminals/{asset_tag}/lost/",
    "/api/v1/terminals/{asset_tag}/retire/",
    "/api/v1/terminals/{asset_tag}/store/",
    "/api/v1/terminals/{asset_tag}/history/",
    "/api/v1/access-cards/",
    "/api/v1/access-cards/{card_number}/",
    "/api/v1/access-cards/{card_number}/lost/",
    "/api/v1/access-cards/{card_number}/retire/",
    "/api/v1/access-cards/{card_number}/store/",
    "/api/v1/events/",
    "/api/v1/events/{id}/",
}


def test_the_schema_lists_every_endpoint(client, db):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert set(response.json()["paths"]) >= PATHS


def test_the_schema_describes_actions_with_their_own_request_and_the_terminal_as_answer(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    move = paths["/api/v1/terminals/{asset_tag}/move/"]["post"]
    body = move["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    answer = move["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/TerminalMove")
    assert answer.endswith("/Terminal")
    assert "put" not in paths["/api/v1/terminals/{asset_tag}/"]


def test_the_schema_generates_without_a_single_warning(tmp_path, db):
    # --fail-on-warn raises on the first warning, so a new ambiguous endpoint fails here.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )

    assert "/api/v1/terminals/{asset_tag}/history/" in (tmp_path / "schema.yaml").read_text()


def test_the_api_documentation_page_opens(client, db):
    assert client.get("/api/docs/").status_code == 200
