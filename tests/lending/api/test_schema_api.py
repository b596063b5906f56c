"""The lending endpoints in the OpenAPI schema, and the one answer that holds a password."""

LENDING_PATHS = {
    "/api/v1/declarations/",
    "/api/v1/declarations/{id}/",
    "/api/v1/declarations/{id}/lift/",
    "/api/v1/declarations/{id}/close/",
    "/api/v1/declarations/{id}/report/",
    "/api/v1/access-requests/",
    "/api/v1/access-requests/{id}/",
    "/api/v1/access-requests/{id}/approve/",
    "/api/v1/access-requests/{id}/reject/",
    "/api/v1/access-requests/{id}/cancel/",
    "/api/v1/loans/",
    "/api/v1/loans/{id}/",
    "/api/v1/loans/{id}/return/",
    "/api/v1/loans/{id}/reveal/",
    "/api/v1/loans/{id}/revoke/",
    "/api/v1/loans/{id}/lost/",
}


def test_the_schema_lists_every_lending_endpoint(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert set(paths) >= LENDING_PATHS


def test_only_the_reveal_answer_has_a_password(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    with_password = {
        name
        for name, component in schema["components"]["schemas"].items()
        if "password" in component.get("properties", {})
    }
    reveal = schema["paths"]["/api/v1/loans/{id}/reveal/"]["post"]["responses"]

    assert "RevealedAccount" in with_password
    assert not {name for name in with_password if "Loan" in name or "Declaration" in name}
    assert reveal["200"]["content"]["application/json"]["schema"]["items"]["$ref"].endswith(
        "/RevealedAccount"
    )
    assert "410" in reveal
    assert "409" in reveal
