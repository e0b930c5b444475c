"""The keyset-pagination cursor: (created_at, id) of a page's last row, opaque to clients."""

import base64
import binascii
import uuid
from datetime import datetime

import orjson


class InvalidCursorError(ValueError):
    """The pagination cursor was not made by us."""


def encode_cursor(created_at: datetime, user_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(user_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, user_id = orjson.loads(raw)
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(user_id)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursorError("invalid cursor") from None
