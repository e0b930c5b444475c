"""Queries on `users`. Uniqueness is the database's job: inserts catch the unique violation."""

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from psycopg import errors as pg_errors
from sqlalchemy import Select, bindparam, delete, func, tuple_
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from user_service.models import Credentials, User, UserPublic

_UPDATABLE = frozenset({"display_name", "role", "is_active", "email", "password_hash"})


class EmailTakenError(Exception):
    """The normalised email already belongs to another user."""


class LastAdminError(Exception):
    """The change would leave no active admin to administer the users."""


class InvalidCursorError(ValueError):
    """The pagination cursor was not made by us."""


@dataclass(frozen=True, slots=True)
class UserFilter:
    email_prefix: str | None = None
    role: str | None = None
    is_active: bool | None = None


def _is_unique_violation(exc: IntegrityError) -> bool:
    return isinstance(exc.orig, pg_errors.UniqueViolation)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


# Hot reads (GET /users/me, and each login's credentials lookup): one prepared SELECT of
# the columns of the API shape, outside the ORM (no identity map, no unit of work), on an
# autocommit connection (no BEGIN and ROLLBACK round trips around a single read).
Shape = TypeVar("Shape", UserPublic, Credentials)


def _select_shape(shape: type[SQLModel]) -> Select[Any]:
    return core_select(*(col(getattr(User, name)) for name in shape.model_fields))


_PROFILE_BY_ID = _select_shape(UserPublic).where(col(User.id) == bindparam("key"))
_CREDENTIALS_BY_EMAIL = _select_shape(Credentials).where(col(User.email) == bindparam("key"))


async def _read_one(reader: AsyncEngine, query: Select[Any], shape: type[Shape],
                    key: object) -> Shape | None:
    async with reader.connect() as conn:
        row = (await conn.execute(query, {"key": key})).first()
    return None if row is None else shape.model_validate(row._mapping)


async def get_profile(reader: AsyncEngine, user_id: uuid.UUID) -> UserPublic | None:
    """The user's public profile, or None; `reader` is the autocommit engine (db.reader)."""
    return await _read_one(reader, _PROFILE_BY_ID, UserPublic, user_id)


async def get_credentials(reader: AsyncEngine, email: str) -> Credentials | None:
    """What a login check needs; `email` must already be normalised."""
    return await _read_one(reader, _CREDENTIALS_BY_EMAIL, Credentials, email)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """`email` must already be normalised (shared.emails.normalise_email)."""
    result = await session.exec(select(User).where(User.email == email))
    return result.first()


async def create_user(session: AsyncSession, user: User) -> User:
    """Insert; EmailTakenError when the unique index refuses it (no check-then-insert)."""
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if _is_unique_violation(exc):
            raise EmailTakenError(user.email) from None
        raise
    return user


async def update_user(session: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    """Apply `changes`; EmailTakenError when a new email collides."""
    for name, value in changes.items():
        if name not in _UPDATABLE:
            raise ValueError(f"field {name!r} is not updatable")
        setattr(user, name, value)
    if not session.is_modified(user):
        return user
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if _is_unique_violation(exc):
            raise EmailTakenError(str(changes.get("email"))) from None
        raise
    # updated_at is set by the server on UPDATE; read it back without a lazy load.
    await session.refresh(user)
    return user


def removes_an_admin(user: User, changes: dict[str, Any] | None = None) -> bool:
    """Whether applying `changes` (None: deleting) takes an active admin away."""
    if user.role != "admin" or not user.is_active:
        return False
    if changes is None:
        return True
    return changes.get("role", "admin") != "admin" or changes.get("is_active", True) is False


async def ensure_another_active_admin(session: AsyncSession, user: User) -> None:
    """LastAdminError unless an active admin other than `user` remains.

    Every active admin row is locked (FOR UPDATE, in id order) until the caller commits:
    two admins demoting each other at once are serialised, and the second one sees the
    first one's change and is refused, instead of both passing a count."""
    user_id = user.id
    admins = await session.exec(
        select(User.id).where(User.role == "admin", col(User.is_active).is_(True))
        .order_by(col(User.id)).with_for_update())
    if not any(admin_id != user_id for admin_id in admins.all()):
        raise LastAdminError(str(user_id))  # the request's session rolls back on close


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Hard delete; False when no such user."""
    result = await session.exec(delete(User).where(col(User.id) == user_id))
    await session.commit()
    return bool(result.rowcount)


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


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(flt: UserFilter) -> list[Any]:
    clauses: list[Any] = []
    if flt.email_prefix:
        # Stored emails are lowercase; the text_pattern_ops unique index serves this prefix scan.
        prefix = _escape_like(flt.email_prefix.strip().lower())
        clauses.append(col(User.email).like(prefix + "%", escape="\\"))
    if flt.role is not None:
        clauses.append(col(User.role) == flt.role)
    if flt.is_active is not None:
        clauses.append(col(User.is_active) == flt.is_active)
    return clauses


async def list_users(
    session: AsyncSession, flt: UserFilter, limit: int, cursor: str | None
) -> tuple[list[User], int, str | None]:
    """One page ordered by (created_at, id) after `cursor`, the filtered total, the next cursor.

    Keyset pagination: rows inserted meanwhile never shift the pages of rows that existed."""
    clauses = _filters(flt)
    total_query = select(func.count()).select_from(User).where(*clauses)
    total = (await session.exec(total_query)).one()
    page_query = select(User).where(*clauses)
    if cursor is not None:
        after = decode_cursor(cursor)
        page_query = page_query.where(tuple_(col(User.created_at), col(User.id)) > after)
    page_query = page_query.order_by(col(User.created_at), col(User.id)).limit(limit + 1)
    rows = list((await session.exec(page_query)).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        assert last.created_at is not None
        next_cursor = encode_cursor(last.created_at, last.id)
    return rows, total, next_cursor
