"""Password policy (NIST SP 800-63B style): length 12..1024, no composition rules, and not
on a list of very common passwords. Hashing itself is shared.PasswordHasher."""

from functools import lru_cache
from importlib import resources

from shared import ProblemError

MIN_LENGTH = 12
# Longer is refused, never silently truncated; it also bounds the work per request.
MAX_LENGTH = 1024


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("auth_service").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str) -> None:
    """Raise 422 `password_too_common` for a password on the bundled list."""
    if password.lower() in common_passwords():
        raise ProblemError(
            422, "password_too_common",
            "This password is too common; choose a longer or less predictable one",
        )
