"""API for the auth service only: service credential required, never routed by the gateway."""

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from shared import ProblemError, get_logger
from user_service import crud, mfa, reads
from user_service.deps import ResourcesDep, SessionDep, require_internal_token
from user_service.listeners import internal_listener_only
from user_service.mfa_crypto import KeyRing, UnreadableSecret
from user_service.models import (
    Credentials,
    CredentialsQuery,
    EmailChange,
    EmailVerification,
    MfaCode,
    MfaVerification,
    PasswordHashUpdate,
    RecoveryCodes,
    RecoveryCodeUse,
    TotpConfirmation,
    TotpEnrolment,
    User,
    UserCreate,
    UserPublic,
)
from user_service.routes.errors import email_taken, user_not_found
from user_service.routes.responses import validated_json

_log = get_logger("internal")

# Not in the public OpenAPI schema: this surface is a contract between two services.
router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    include_in_schema=False,
    # The listener first: on the public port this API does not exist, credential or not.
    dependencies=[Depends(internal_listener_only), Depends(require_internal_token)],
)


@router.post("/users", status_code=201, response_model=UserPublic)
async def create_user(body: UserCreate, session: SessionDep) -> UserPublic:
    """Create a user with an already computed password hash."""
    user = User(email=body.email, password_hash=body.password_hash,
                display_name=body.display_name, role=body.role)
    try:
        user = await crud.create_user(session, user=user)
    except crud.EmailTakenError:
        raise email_taken() from None
    return UserPublic.model_validate(user)


@router.post("/credentials", response_model=Credentials)
async def read_credentials(body: CredentialsQuery, resources: ResourcesDep) -> Response:
    """What a login check needs, by (normalised) email."""
    credentials = await reads.get_credentials(resources.reader, email=body.email)
    if credentials is None:
        raise user_not_found()
    return validated_json(credentials)


@router.put("/users/{user_id}/password-hash", status_code=204, response_class=Response)
async def replace_password_hash(
    user_id: uuid.UUID, body: PasswordHashUpdate, session: SessionDep
) -> Response:
    """Store a new hash (password change, or rehash after a parameter change)."""
    user = await crud.get_user(session, user_id=user_id)
    if user is None:
        raise user_not_found()
    await crud.update_user(session, user=user,
                           changes={"password_hash": body.password_hash})
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=UserPublic)
async def read_user(user_id: uuid.UUID, resources: ResourcesDep) -> Response:
    """One user by id (e.g. to check a refresh token's owner still exists and is active)."""
    profile = await reads.get_profile(resources.reader, user_id=user_id)
    if profile is None:
        raise user_not_found()
    return validated_json(profile)



@router.get("/users/{user_id}/credentials", response_model=Credentials)
async def read_credentials_by_id(user_id: uuid.UUID, resources: ResourcesDep) -> Response:
    """What a password check needs, by id (password change, email change, reset)."""
    credentials = await reads.get_credentials_by_id(resources.reader, user_id=user_id)
    if credentials is None:
        raise user_not_found()
    return validated_json(credentials)


@router.post("/users/{user_id}/email-verified", status_code=204, response_class=Response)
async def mark_email_verified(
    user_id: uuid.UUID, body: EmailVerification, session: SessionDep
) -> Response:
    """The address was confirmed; 404 unless it is still this user's address (a token
    mailed to an earlier address verifies nothing)."""
    if not await crud.mark_email_verified(session, user_id=user_id, email=body.email):
        raise user_not_found()
    return Response(status_code=204)


@router.put("/users/{user_id}/email", response_model=UserPublic)
async def change_email(user_id: uuid.UUID, body: EmailChange, session: SessionDep) -> UserPublic:
    """A confirmed email change: the new address, verified by that confirmation."""
    user = await crud.get_user(session, user_id=user_id)
    if user is None:
        raise user_not_found()
    try:
        user = await crud.update_user(session, user=user, changes={
            "email": body.email, "email_verified_at": datetime.now(UTC)})
    except crud.EmailTakenError:
        raise email_taken() from None
    return UserPublic.model_validate(user)


# -- MFA (issue 18): the auth service drives the flows, this service keeps the secrets ------

async def _mfa_keys(resources: ResourcesDep) -> KeyRing:
    if not resources.mfa_keys.configured:
        raise ProblemError(503, "mfa_unavailable",
                           "MFA is not configured on this server (MFA_ENCRYPTION_KEYS)")
    return resources.mfa_keys


MfaKeysDep = Annotated[KeyRing, Depends(_mfa_keys)]


@contextlib.contextmanager
def _mfa_errors(user_id: uuid.UUID) -> Iterator[None]:
    """The MFA domain errors as their problem answers."""
    try:
        yield
    except mfa.UnknownUser:
        raise user_not_found() from None
    except mfa.MfaAlreadyEnabled:
        raise ProblemError(409, "mfa_already_enabled", "MFA is already on") from None
    except mfa.MfaNotPending:
        raise ProblemError(409, "mfa_not_pending", "No TOTP enrolment was started") from None
    except mfa.MfaNotEnabled:
        raise ProblemError(409, "mfa_not_enabled", "MFA is not on") from None
    except mfa.InvalidMfaCode:
        raise ProblemError(400, "invalid_mfa_code", "The code is not valid") from None
    except UnreadableSecret:
        # A key missing from the ring (dropped before mfa-reencrypt ran) or a damaged row.
        _log.error("mfa_secret_unreadable", user_id=str(user_id))
        raise ProblemError(500, "mfa_secret_unreadable",
                           "The stored TOTP secret cannot be read") from None


@router.post("/users/{user_id}/mfa/totp", status_code=201, response_model=TotpEnrolment)
async def start_totp_enrolment(user_id: uuid.UUID, session: SessionDep,
                               keys: MfaKeysDep) -> TotpEnrolment:
    """(Re)start a pending TOTP enrolment: a new secret, stored sealed, not yet enabled."""
    with _mfa_errors(user_id):
        secret = await mfa.start_enrolment(session, keys=keys, user_id=user_id)
    return TotpEnrolment(secret=secret)


@router.post("/users/{user_id}/mfa/totp/confirm", response_model=TotpConfirmation)
async def confirm_totp_enrolment(user_id: uuid.UUID, body: MfaCode, session: SessionDep,
                                 keys: MfaKeysDep) -> TotpConfirmation:
    """Turn MFA on with a code of the pending secret; new recovery codes, shown once."""
    with _mfa_errors(user_id):
        step, codes = await mfa.confirm_enrolment(session, keys=keys, user_id=user_id,
                                                  code=body.code)
    return TotpConfirmation(step=step, recovery_codes=codes)


@router.post("/users/{user_id}/mfa/verify", response_model=MfaVerification)
async def verify_totp_code(user_id: uuid.UUID, body: MfaCode, session: SessionDep,
                           keys: MfaKeysDep) -> MfaVerification:
    """Whether a TOTP code matches now (one step either side), and its step."""
    with _mfa_errors(user_id):
        step = await mfa.verify_code(session, keys=keys, user_id=user_id, code=body.code)
    return MfaVerification(valid=step is not None, step=step)


@router.post("/users/{user_id}/mfa/recovery-codes/consume", response_model=RecoveryCodeUse)
async def consume_recovery_code(user_id: uuid.UUID, body: MfaCode,
                                session: SessionDep) -> RecoveryCodeUse:
    """Spend a recovery code (each works once); how many are left."""
    with _mfa_errors(user_id):
        valid, remaining = await mfa.consume_recovery_code(session, user_id=user_id,
                                                           code=body.code)
    return RecoveryCodeUse(valid=valid, remaining=remaining)


@router.post("/users/{user_id}/mfa/recovery-codes", response_model=RecoveryCodes)
async def regenerate_recovery_codes(user_id: uuid.UUID, session: SessionDep) -> RecoveryCodes:
    """A new set of recovery codes; the old set stops working."""
    with _mfa_errors(user_id):
        codes = await mfa.regenerate_codes(session, user_id=user_id)
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/users/{user_id}/mfa", status_code=204, response_class=Response)
async def disable_mfa(user_id: uuid.UUID, session: SessionDep) -> Response:
    """MFA off: the secret and the recovery codes are deleted (idempotent)."""
    with _mfa_errors(user_id):
        await mfa.disable(session, user_id=user_id)
    return Response(status_code=204)
