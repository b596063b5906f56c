"""Random login IDs and passwords from `secrets`, each within its target system's policy."""

import os
import secrets
import string
from dataclasses import dataclass

LOGIN_ID_ALPHABET = string.ascii_lowercase + string.digits


class PolicyError(ValueError):
    """The policy cannot be satisfied (too short for its minimums, or a class left empty)."""


@dataclass(frozen=True)
class PasswordPolicy:
    length: int = 20
    min_upper: int = 1
    min_lower: int = 1
    min_digits: int = 1
    min_symbols: int = 1
    symbols: str = "!#%+-=?@^_"
    excluded: str = ""

    def classes(self) -> list[tuple[str, int]]:
        """Each character class with the excluded characters removed, and its minimum."""
        pools = [
            (string.ascii_uppercase, self.min_upper),
            (string.ascii_lowercase, self.min_lower),
            (string.digits, self.min_digits),
            (self.symbols, self.min_symbols),
        ]
        return [("".join(c for c in pool if c not in self.excluded), n) for pool, n in pools]

    def check(self) -> None:
        classes = self.classes()
        if sum(n for _pool, n in classes) > self.length:
            raise PolicyError("the minimums add up to more than the length")
        if any(n and not pool for pool, n in classes):
            raise PolicyError("a class with a minimum has no characters left after exclusions")
        if not "".join(pool for pool, _n in classes):
            raise PolicyError("no characters are allowed")

    def satisfied_by(self, password: str) -> bool:
        return (
            len(password) == self.length
            and all(c in "".join(pool for pool, _n in self.classes()) for c in password)
            and all(sum(c in pool for c in password) >= n for pool, n in self.classes())
        )


class _Draws:
    """Uniform draws from the operating system's CSPRNG (the source `secrets` uses), read a
    block at a time instead of once per character: a byte is kept only when it is below the
    largest multiple of n that fits in a byte (rejection sampling), so every result below n is
    exactly as likely as any other."""

    def __init__(self, expected: int):
        self._block, self._next = os.urandom(2 * expected + 16), 0

    def below(self, n: int) -> int:
        if n > 256:
            return secrets.randbelow(n)
        limit = 256 - 256 % n
        while True:
            if self._next == len(self._block):
                self._block, self._next = os.urandom(64), 0
            byte = self._block[self._next]
            self._next += 1
            if byte < limit:
                return byte % n

    def choice(self, pool: str) -> str:
        return pool[self.below(len(pool))]


def generate_password(policy: PasswordPolicy) -> str:
    policy.check()
    classes = policy.classes()
    draws = _Draws(2 * policy.length)
    chars = [draws.choice(pool) for pool, n in classes for _ in range(n)]
    alphabet = "".join(pool for pool, _n in classes)
    chars += [draws.choice(alphabet) for _ in range(policy.length - len(chars))]
    # Fisher-Yates, so the required characters are not always first.
    for i in range(len(chars) - 1, 0, -1):
        j = draws.below(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def generate_login_id(prefix: str, random_length: int, excluded: str = "") -> str:
    alphabet = "".join(c for c in LOGIN_ID_ALPHABET if c not in excluded)
    draws = _Draws(random_length)
    return prefix + "".join(draws.choice(alphabet) for _ in range(random_length))
