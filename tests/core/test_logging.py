"""An ordinary 403 or 404 is one log line naming who was refused what, never a traceback."""

import logging


def test_a_refused_page_is_logged_without_a_traceback_and_names_the_user(
    client, contractor, caplog
):
    client.force_login(contractor)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/terminals/").status_code == 403
        assert client.get("/lending/loans/999999/").status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.status_code for r in records] == [403, 404]
    for record in records:
        assert record.exc_info is None
        assert "(user: carl)" in record.getMessage()
    assert "Traceback" not in caplog.text
