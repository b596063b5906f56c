import segno
from django.urls import reverse

from tests.factories import make_terminal


def test_the_label_sheet_has_a_qr_code_and_the_text_of_each_selected_terminal(
    as_user, facilities, cabinet
):
    make_terminal(location=cabinet, asset_tag="NW-L1", hostname="host-l1")
    make_terminal(location=cabinet, asset_tag="NW-L2", hostname="host-l2")
    make_terminal(location=cabinet, asset_tag="NW-L3", hostname="host-l3")

    response = as_user(facilities).get(reverse("terminals:labels"), {"tag": ["NW-L1", "NW-L3"]})

    page = response.content.decode()
    assert page.count("<svg") == 2
    assert segno.make("NW-L1", micro=False).svg_inline(scale=4) in page
    assert "host-l1" in page
    assert "host-l3" in page
    assert "host-l2" not in page
    assert "送配電株式会社" in page  # the custodian, for whoever finds the terminal


def test_an_unknown_tag_is_named_instead_of_printed(as_user, facilities, terminal):
    page = as_user(facilities).get(reverse("terminals:labels"), {"tag": ["NW-00001", "NW-NOPE"]})
    text = page.content.decode()
    assert text.count("<svg") == 1
    assert "NW-NOPE" in text
