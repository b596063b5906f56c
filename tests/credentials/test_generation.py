import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.generation import PasswordPolicy, PolicyError, generate_login_id, generate_password


@st.composite
def policies(draw):
    mins = [draw(st.integers(0, 4)) for _ in range(4)]
    length = draw(st.integers(max(8, sum(mins)), 64))
    symbols = draw(st.text(alphabet="!#%+-=?@^_*&$", min_size=1, max_size=10))
    excluded = draw(st.text(alphabet="Il1O0o" + symbols, max_size=4))
    policy = PasswordPolicy(length, *mins, symbols=symbols, excluded=excluded)
    try:
        policy.check()
    except PolicyError:
        # excluding every symbol of a class with a minimum is refused, tested below
        policy = PasswordPolicy(length, *mins, symbols=symbols + "+", excluded="")
    return policy


@settings(max_examples=300)
@given(policies())
def test_generated_passwords_satisfy_their_policy(policy):
    password = generate_password(policy)
    assert policy.satisfied_by(password)
    assert not set(password) & set(policy.excluded)


@settings(max_examples=200)
@given(
    st.text(alphabet=string.ascii_lowercase, min_size=0, max_size=6),
    st.integers(4, 24),
)
def test_generated_login_ids_have_the_prefix_and_random_part(prefix, n):
    login_id = generate_login_id(prefix, n)
    assert login_id.startswith(prefix)
    assert len(login_id) == len(prefix) + n
    assert set(login_id[len(prefix) :]) <= set(string.ascii_lowercase + string.digits)


def test_a_policy_whose_minimums_exceed_its_length_is_refused():
    with pytest.raises(PolicyError):
        generate_password(PasswordPolicy(length=8, min_upper=3, min_lower=3, min_digits=3))


def test_a_policy_that_excludes_every_symbol_it_requires_is_refused():
    with pytest.raises(PolicyError):
        generate_password(PasswordPolicy(symbols="!", excluded="!", min_symbols=1))


def test_two_passwords_differ():
    policy = PasswordPolicy()
    assert len({generate_password(policy) for _ in range(50)}) == 50


def test_every_character_of_the_alphabet_is_drawn_about_equally_often():
    # 36 characters: a byte taken modulo 36 would favour the first 4 by 12.5%; each count is
    # 2,500 +- 50 (one standard deviation), and 9% is 4.5 of them.
    counts: dict[str, int] = {}
    for _ in range(5000):
        for char in generate_login_id("", 18):
            counts[char] = counts.get(char, 0) + 1
    expected = 5000 * 18 / 36
    assert set(counts) == set(string.ascii_lowercase + string.digits)
    assert all(abs(n - expected) < 0.09 * expected for n in counts.values())
