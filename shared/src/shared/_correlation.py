"""Correlation-ID rules: which inbound X-Request-ID values are accepted."""

import re
import uuid

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def is_safe_request_id(value: str) -> bool:
    """True for at most 128 chars of [A-Za-z0-9._-]: safe in logs and headers."""
    return _SAFE_REQUEST_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """A fresh random correlation ID."""
    return uuid.uuid4().hex


def accept_or_mint(value: str | None) -> str:
    """The inbound ID when it is safe, else a new one."""
    if value is not None and is_safe_request_id(value):
        return value
    return new_request_id()
