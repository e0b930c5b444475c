"""Email addresses as every service validates, stores and looks them up (opt-in: it
loads email-validator, which the gateway never needs)."""

import contextlib
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, StringConstraints

from shared._text import reject_control_characters

__all__ = ["EMAIL_MAX_LENGTH", "Email", "LookupEmail", "normalise_email", "valid_email"]

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit


def normalise_email(value: str) -> str:
    """The one stored and looked-up form of an address: email-validator's normalisation,
    stripped, lower-cased. Invalid input is only stripped and lower-cased, so a lookup of
    it simply finds nothing."""
    value = value.strip()
    with contextlib.suppress(EmailNotValidError):
        value = validate_email(value, check_deliverability=False).normalized
    return value.lower()


def valid_email(value: object) -> str:
    """A new address in its stored form; ValueError (with the reason) when invalid."""
    if not isinstance(value, str):
        raise ValueError("email must be a string")
    value = value.strip()
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValueError(f"email longer than {EMAIL_MAX_LENGTH} characters")
    try:
        normalised = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email: {exc}") from None
    return normalised.lower()


# A new address (register, email change, create-admin): refused (422) unless valid, then
# stored in its normalised form.
Email = Annotated[str, BeforeValidator(valid_email)]
# An address to look up: never refused for its form, only normalised like stored ones.
LookupEmail = Annotated[
    str,
    StringConstraints(max_length=EMAIL_MAX_LENGTH),
    AfterValidator(reject_control_characters),
    AfterValidator(normalise_email),
]
