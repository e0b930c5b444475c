"""`user-service mfa-reencrypt`: every TOTP secret re-sealed under the ring's first key.

Rows are taken in user-id order, a batch at a time, each batch locked (FOR UPDATE) and
committed on its own: a concurrent enrolment waits for at most one batch, and an
interrupted run resumes where it stopped when run again (rows already under the first
key are not touched). A row that no key of the ring opens is left as it is and counted:
the run then fails, and the old key must not be dropped yet."""

import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import get_logger
from user_service.mfa_crypto import KeyRing, SealedSecret, UnreadableSecret
from user_service.models import UserTotpSecret

_log = get_logger("mfa_rotation")
BATCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class ReencryptResult:
    changed: int  # rows now sealed under the first key that were not before
    unreadable: int  # rows under a key that is not in the ring, or that do not decrypt


async def reencrypt_all(sessionmaker: async_sessionmaker[AsyncSession], *,
                        keys: KeyRing) -> ReencryptResult:
    """Re-seal every secret that is not under `keys`' first key."""
    primary = keys.primary_key_id
    changed = unreadable = 0
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session:
            query = (select(UserTotpSecret).where(col(UserTotpSecret.key_id) != primary)
                     .order_by(col(UserTotpSecret.user_id)).limit(BATCH_SIZE).with_for_update())
            if after is not None:
                query = query.where(col(UserTotpSecret.user_id) > after)
            rows = list((await session.exec(query)).all())
            if not rows:
                return ReencryptResult(changed, unreadable)
            for row in rows:
                try:
                    plain = keys.open(SealedSecret(row.key_id, row.nonce, row.ciphertext),
                                      user_id=row.user_id)
                except UnreadableSecret:
                    unreadable += 1
                    _log.error("mfa_secret_unreadable", user_id=str(row.user_id),
                               key_id=row.key_id)
                    continue
                sealed = keys.seal(plain, user_id=row.user_id)
                await session.exec(
                    update(UserTotpSecret).where(col(UserTotpSecret.user_id) == row.user_id)
                    .values(key_id=sealed.key_id, nonce=sealed.nonce,
                            ciphertext=sealed.ciphertext))
                changed += 1
            after = rows[-1].user_id
            await session.commit()
