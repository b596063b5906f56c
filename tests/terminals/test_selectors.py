from terminals import selectors
from tests.factories import make_terminal


def test_the_location_tree_rolls_counts_up_to_the_site(site, cabinet, open_room, facilities):
    make_terminal(location=cabinet)
    make_terminal(location=cabinet)
    make_terminal(location=open_room)
    rows = {
        location.code: (own, total)
        for location, own, total in selectors.location_tree(user=facilities)
    }
    assert rows["hq-cab-1"] == (2, 2)
    assert rows["hq-b1"] == (0, 2)
    assert rows["hq"] == (0, 3)


def test_counts_by_status_list_every_status_including_zero(cabinet, facilities):
    make_terminal(location=cabinet)
    counts = {
        status: n for status, _label, n in selectors.terminal_counts_by_status(user=facilities)
    }
    assert counts["in_storage"] == 1
    assert counts["lent"] == 0


def test_a_contractor_sees_no_terminal(cabinet, contractor, facilities):
    make_terminal(location=cabinet)
    assert selectors.terminal_queryset(user=contractor).count() == 0
    assert selectors.terminal_queryset(user=facilities).count() == 1


def test_only_terminals_breaking_the_storage_rule_are_listed(cabinet, open_room, facilities):
    make_terminal(location=cabinet)
    exposed = make_terminal(location=open_room)
    assert list(selectors.terminals_breaking_storage_rule(user=facilities)) == [exposed]
