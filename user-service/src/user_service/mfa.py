"""The second factor's storage (issue 18): TOTP enrolment and checks, recovery codes.

State: `users.mfa_enabled_at` says whether MFA is on; `user_totp_secrets` holds the sealed
secret (pending while mfa_enabled_at is NULL); `user_recovery_codes` the hashed codes.
Every change of one user's MFA state first locks that user's row (SELECT ... FOR UPDATE),
so an enrolment, its confirmation, a regeneration and a reset never interleave. A
recovery code is spent by a conditional UPDATE (`used_at IS NULL`), which only one of two
concurrent uses can win.

The plaintext secret leaves this service once, when an enrolment starts; afterwards the
auth service sends codes and gets back whether (and at which step) they matched."""

import hmac
import uuid
from datetime import datetime

from sqlalchemy import delete, func, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import totp
from user_service import recovery_codes
from user_service.mfa_crypto import KeyRing, SealedSecret
from user_service.models import RecoveryCode, User, UserTotpSecret


class UnknownUser(Exception):
    """No user has this id."""


class MfaAlreadyEnabled(Exception):
    """MFA is on; a new enrolment needs a reset (DELETE) first."""


class MfaNotPending(Exception):
    """There is no started enrolment to confirm."""


class MfaNotEnabled(Exception):
    """MFA is off for this user."""


class InvalidMfaCode(Exception):
    """The code does not match the secret in the accepted window."""


async def _lock_state(session: AsyncSession, user_id: uuid.UUID) -> datetime | None:
    """The user's mfa_enabled_at, with the user's row locked until commit; UnknownUser."""
    found = (await session.exec(
        select(User.id, User.mfa_enabled_at).where(col(User.id) == user_id)
        .with_for_update())).first()
    if found is None:
        raise UnknownUser(str(user_id))
    return found[1]


async def _sealed_secret(session: AsyncSession, user_id: uuid.UUID) -> SealedSecret | None:
    row = await session.get(UserTotpSecret, user_id)
    return None if row is None else SealedSecret(row.key_id, row.nonce, row.ciphertext)


async def _replace_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes, hashes = recovery_codes.new_codes(user_id)
    await session.exec(insert(RecoveryCode).values(
        [{"user_id": user_id, "code_hash": code_hash} for code_hash in hashes]))
    return codes


async def start_enrolment(session: AsyncSession, *, keys: KeyRing, user_id: uuid.UUID) -> str:
    """A new pending secret (an earlier pending one is replaced); its base32 form."""
    if await _lock_state(session, user_id) is not None:
        raise MfaAlreadyEnabled(str(user_id))
    secret = totp.new_secret()
    sealed = keys.seal(secret, user_id=user_id)
    values = {"key_id": sealed.key_id, "nonce": sealed.nonce, "ciphertext": sealed.ciphertext}
    await session.exec(
        pg_insert(UserTotpSecret).values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=["user_id"],
                               set_={**values, "created_at": func.now()}))
    await session.commit()
    return totp.secret_to_base32(secret)


async def confirm_enrolment(session: AsyncSession, *, keys: KeyRing, user_id: uuid.UUID,
                            code: str) -> tuple[int, list[str]]:
    """Turn MFA on with a code of the pending secret: (its step, new recovery codes)."""
    if await _lock_state(session, user_id) is not None:
        raise MfaAlreadyEnabled(str(user_id))
    sealed = await _sealed_secret(session, user_id)
    if sealed is None:
        raise MfaNotPending(str(user_id))
    step = totp.verify(keys.open(sealed, user_id=user_id), code)
    if step is None:
        raise InvalidMfaCode(str(user_id))
    await session.exec(update(User).where(col(User.id) == user_id)
                       .values(mfa_enabled_at=func.now()))
    codes = await _replace_codes(session, user_id)
    await session.commit()
    return step, codes


async def verify_code(session: AsyncSession, *, keys: KeyRing, user_id: uuid.UUID,
                      code: str) -> int | None:
    """The step a TOTP code matches (None: no match). Replays are the caller's to refuse."""
    enabled = (await session.exec(
        select(User.id, User.mfa_enabled_at).where(col(User.id) == user_id))).first()
    if enabled is None:
        raise UnknownUser(str(user_id))
    sealed = await _sealed_secret(session, user_id) if enabled[1] is not None else None
    await session.commit()  # end the read's transaction before the CPU work
    if sealed is None:
        raise MfaNotEnabled(str(user_id))
    return totp.verify(keys.open(sealed, user_id=user_id), code)


async def consume_recovery_code(session: AsyncSession, *, user_id: uuid.UUID,
                                code: str) -> tuple[bool, int]:
    """Spend a recovery code: (whether it was an unused code of the user, codes left)."""
    enabled = (await session.exec(
        select(User.id, User.mfa_enabled_at).where(col(User.id) == user_id))).first()
    if enabled is None:
        raise UnknownUser(str(user_id))
    if enabled[1] is None:
        return False, 0
    unused = col(RecoveryCode.used_at).is_(None)
    mine = col(RecoveryCode.user_id) == user_id
    stored = (await session.exec(select(RecoveryCode.code_hash).where(mine, unused))).all()
    wanted = recovery_codes.hash_typed(user_id, code) or b""  # b"": matches no stored hash
    # Every stored hash is compared, in constant time, before the one match is spent.
    matched = None
    for candidate in stored:
        if hmac.compare_digest(candidate, wanted):
            matched = candidate
    valid = False
    if matched is not None:
        spent = await session.exec(update(RecoveryCode)
                                   .where(mine, col(RecoveryCode.code_hash) == matched, unused)
                                   .values(used_at=func.now()))
        valid = spent.rowcount == 1  # a concurrent use of the same code got it first
    remaining = (await session.exec(
        select(func.count()).select_from(RecoveryCode).where(mine, unused))).one()
    await session.commit()
    return valid, remaining


async def regenerate_codes(session: AsyncSession, *, user_id: uuid.UUID) -> list[str]:
    """A new set of recovery codes; every code of the old set stops working."""
    if await _lock_state(session, user_id) is None:
        raise MfaNotEnabled(str(user_id))
    codes = await _replace_codes(session, user_id)
    await session.commit()
    return codes


async def disable(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """MFA off: the secret (pending or not) and every recovery code gone. Idempotent."""
    if await _lock_state(session, user_id) is not None:
        await session.exec(update(User).where(col(User.id) == user_id)
                           .values(mfa_enabled_at=None))
    await session.exec(delete(UserTotpSecret).where(col(UserTotpSecret.user_id) == user_id))
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    await session.commit()
