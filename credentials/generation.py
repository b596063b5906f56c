"""Random login IDs and passwords from `secrets`, each within its target system's policy."""

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


def generate_password(policy: PasswordPolicy) -> str:
    policy.check()
    classes = policy.classes()
    chars = [secrets.choice(pool) for pool, n in classes for _ in range(n)]
    alphabet = "".join(pool for pool, _n in classes)
    chars += [secrets.choice(alphabet) for _ in range(policy.length - len(chars))]
    # Fisher-Yates with a CSPRNG, so the required characters are not always first.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def generate_login_id(prefix: str, random_length: int, excluded: str = "") -> str:
    alphabet = "".join(c for c in LOGIN_ID_ALPHABET if c not in excluded)
    return prefix + "".join(secrets.choice(alphabet) for _ in range(random_length))
