"""Hot reads (GET /users/me, and each login's credentials lookup): one prepared SELECT of
the columns of the API shape, outside the ORM (no identity map, no unit of work), on an
autocommit connection (db.reader: no BEGIN and ROLLBACK round trips around one read)."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col

from user_service.models import Credentials, User, UserPublic

Shape = TypeVar("Shape", UserPublic, Credentials)


# The API shows flags where the row keeps the moment.
_FLAGS = {"email_verified": User.email_verified_at, "mfa_enabled": User.mfa_enabled_at}


def _column(name: str) -> Any:
    if name in _FLAGS:
        return col(_FLAGS[name]).is_not(None).label(name)
    return col(getattr(User, name))


def _select_shape(shape: type[SQLModel]) -> Select[Any]:
    return core_select(*(_column(name) for name in shape.model_fields))


_PROFILE_BY_ID = _select_shape(UserPublic).where(col(User.id) == bindparam("key"))
_CREDENTIALS_BY_EMAIL = _select_shape(Credentials).where(col(User.email) == bindparam("key"))
_CREDENTIALS_BY_ID = _select_shape(Credentials).where(col(User.id) == bindparam("key"))


async def _read_one(reader: AsyncEngine, query: Select[Any], shape: type[Shape],
                    key: object) -> Shape | None:
    async with reader.connect() as conn:
        row = (await conn.execute(query, {"key": key})).first()
    return None if row is None else shape.model_validate(row._mapping)


async def get_profile(reader: AsyncEngine, *, user_id: uuid.UUID) -> UserPublic | None:
    """The user's public profile, or None; `reader` is the autocommit engine (db.reader)."""
    return await _read_one(reader, _PROFILE_BY_ID, UserPublic, user_id)


async def get_credentials(reader: AsyncEngine, *, email: str) -> Credentials | None:
    """What a login check needs; `email` must already be normalised."""
    return await _read_one(reader, _CREDENTIALS_BY_EMAIL, Credentials, email)


async def get_credentials_by_id(reader: AsyncEngine, *,
                                user_id: uuid.UUID) -> Credentials | None:
    """The same by id (a password or email change checks the current password)."""
    return await _read_one(reader, _CREDENTIALS_BY_ID, Credentials, user_id)


