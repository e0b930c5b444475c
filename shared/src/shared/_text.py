"""Rules for user-supplied text that every service applies the same way."""


def reject_control_characters(value: str | None) -> str | None:
    """A pydantic AfterValidator: control characters are refused (422), never stored.

    PostgreSQL text cannot hold NUL at all, and the others only ever arrive as junk or as
    an attempt to forge log lines."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value
