from terminals.models import Terminal
from tests.factories import make_terminal


def test_a_new_terminal_is_in_storage_with_one_movement(cabinet):
    terminal = make_terminal(location=cabinet)
    assert terminal.status == Terminal.Status.IN_STORAGE
    assert terminal.movements.count() == 1
