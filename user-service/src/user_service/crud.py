"""Queries on `users`. Uniqueness is the database's job: inserts catch the unique violation."""

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import delete, func, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from user_service.cursor import decode_cursor, encode_cursor
from user_service.models import User

_UPDATABLE = frozenset({"display_name", "role", "is_active", "email", "password_hash",
                        "email_verified_at"})


class EmailTakenError(Exception):
    """The normalised email already belongs to another user."""


class LastAdminError(Exception):
    """The change would leave no active admin to administer the users."""


@dataclass(frozen=True, slots=True)
class UserFilter:
    email_prefix: str | None = None
    role: str | None = None
    is_active: bool | None = None


def _is_unique_violation(exc: IntegrityError) -> bool:
    return isinstance(exc.orig, pg_errors.UniqueViolation)


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, *, email: str) -> User | None:
    """`email` must already be normalised (shared.emails.normalise_email)."""
    result = await session.exec(select(User).where(User.email == email))
    return result.first()


async def create_user(session: AsyncSession, *, user: User) -> User:
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


async def update_user(session: AsyncSession, *, user: User, changes: dict[str, Any]) -> User:
    """Apply `changes`; EmailTakenError when a new email collides. A new email is
    unverified unless `changes` says when it was verified."""
    if "email" in changes and changes["email"] != user.email:
        changes = {"email_verified_at": None, **changes}
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


def removes_an_admin(*, user: User, changes: dict[str, Any] | None = None) -> bool:
    """Whether applying `changes` (None: deleting) takes an active admin away."""
    if user.role != "admin" or not user.is_active:
        return False
    if changes is None:
        return True
    return changes.get("role", "admin") != "admin" or changes.get("is_active", True) is False


async def ensure_another_active_admin(session: AsyncSession, *, user: User) -> None:
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


async def mark_email_verified(session: AsyncSession, *, user_id: uuid.UUID,
                              email: str) -> bool:
    """Set email_verified_at (once: the first confirmation's moment stays) if `email` is
    still the user's address; False when no such user has it (deleted, or changed)."""
    result = await session.exec(
        update(User).where(col(User.id) == user_id, col(User.email) == email)
        .values(email_verified_at=func.coalesce(col(User.email_verified_at), func.now())))
    await session.commit()
    return bool(result.rowcount)


async def delete_user(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    """Hard delete; False when no such user."""
    result = await session.exec(delete(User).where(col(User.id) == user_id))
    await session.commit()
    return bool(result.rowcount)


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
    session: AsyncSession, *, flt: UserFilter, limit: int, cursor: str | None
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
