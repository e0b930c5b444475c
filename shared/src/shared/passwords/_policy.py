"""The password policy (NIST SP 800-63B style): length 12..1024, no composition rules, and
not on a list of very common passwords. Every place that sets a password applies it:
registration, reset, change, and the `create-admin` command."""

from functools import lru_cache
from importlib import resources
from typing import Annotated

from pydantic import Field

MIN_LENGTH = 12
# Longer is refused, never silently truncated; it also bounds the work per request.
MAX_LENGTH = 1024

# A new password in a request body: the length rule, checked by validation (422).
NewPassword = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
# A password being checked (login, confirming a change): only bounded, never judged.
GivenPassword = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]


class PasswordRejected(ValueError):
    """A new password breaks the policy; `code` is the stable problem code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("shared.passwords").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str) -> None:
    """Raise PasswordRejected unless `password` may be set: `password_length` outside
    MIN_LENGTH..MAX_LENGTH, `password_too_common` on the bundled list."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise PasswordRejected(
            "password_length", f"A password must be {MIN_LENGTH}-{MAX_LENGTH} characters")
    if password.lower() in common_passwords():
        raise PasswordRejected(
            "password_too_common",
            "This password is too common; choose a longer or less predictable one",
        )
