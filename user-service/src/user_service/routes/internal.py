"""API for the auth service only: service credential required, never routed by the gateway."""

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Response

from user_service import crud, reads
from user_service.deps import ResourcesDep, SessionDep, require_internal_token
from user_service.models import (
    Credentials,
    CredentialsQuery,
    EmailChange,
    EmailVerification,
    PasswordHashUpdate,
    User,
    UserCreate,
    UserPublic,
)
from user_service.routes.errors import email_taken, user_not_found
from user_service.routes.responses import validated_json

# Not in the public OpenAPI schema: this surface is a contract between two services.
router = APIRouter(
    prefix="/internal",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[Depends(require_internal_token)],
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
