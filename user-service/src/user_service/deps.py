"""Request dependencies: settings, DB session, the verified caller, the internal credential."""

import hmac
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, TypeVar, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import JwtVerifier, Principal, ProblemError
from shared.passwords import PasswordHasher
from shared.web import bearer_principal, unauthorized
from user_service.config import Settings
from user_service.mfa_crypto import KeyRing
from user_service.models import User, UserPublic
from user_service.revocations import RevocationPublisher
from user_service.routes.errors import step_up_required

UserT = TypeVar("UserT", User, UserPublic)

# Shown in OpenAPI as the "Authorize" scheme; auto_error=False so we answer problem+json.
_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT")
_internal_token = APIKeyHeader(name="X-Internal-Token", auto_error=False)


@dataclass(frozen=True, slots=True)
class Resources:
    """Long-lived clients created in the lifespan and closed there."""

    engine: AsyncEngine
    reader: AsyncEngine  # the same pool in autocommit mode (db.reader)
    sessionmaker: async_sessionmaker[AsyncSession]
    verifier: JwtVerifier
    hasher: PasswordHasher
    revocations: RevocationPublisher  # admin disable, delete and role change
    mfa_keys: KeyRing  # seals and opens the TOTP secrets (empty: MFA answers 503)


# Dependencies are `async def` even when they do no I/O: FastAPI runs plain `def`
# dependencies in a worker thread, which cost ~4 thread hops per request (profiled).
async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_resources(request: Request) -> Resources:
    return cast(Resources, request.app.state.resources)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with resources.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _verifier(request: Request) -> JwtVerifier:
    return cast(Resources, request.app.state.resources).verifier


# The verified access token; identity headers from callers are never trusted.
get_principal = bearer_principal(_verifier, _bearer)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def subject_id(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise unauthorized("invalid_token", "Token subject is not a user id") from None


def require_active(user: UserT | None) -> UserT:
    """The token's subject must still exist and be active."""
    if user is None or not user.is_active:
        raise unauthorized("invalid_token", "The token's user no longer exists or is disabled")
    return user


async def get_current_user(principal: PrincipalDep, session: SessionDep) -> User:
    """The token's subject as a row of `session`, to change it."""
    return require_active(await session.get(User, subject_id(principal)))


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin_user(principal: PrincipalDep, user: CurrentUser) -> User:
    """Admin by the token AND by the database row (a demotion takes effect at once)."""
    if not principal.is_admin or user.role != "admin":
        raise ProblemError(403, "forbidden", "Administrator role required")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]


async def get_stepped_up_admin(principal: PrincipalDep, admin: AdminUser,
                               settings: SettingsDep) -> User:
    """An admin allowed to change users: one whose account has MFA on must have proved a
    second factor within STEP_UP_MAX_AGE_SECONDS (the token's `amr` and `auth_time`; the
    row says whether MFA is on, the token has no such claim)."""
    if admin.mfa_enabled and not principal.has_recent_second_factor(
            settings.STEP_UP_MAX_AGE_SECONDS):
        raise step_up_required()
    return admin


SteppedUpAdmin = Annotated[User, Depends(get_stepped_up_admin)]


async def require_internal_token(
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_internal_token)],
) -> None:
    """The auth service's shared credential, compared in constant time."""
    expected = settings.INTERNAL_API_TOKEN.encode()
    # Bytes, not str: compare_digest raises TypeError on non-ASCII str.
    if token is None or not hmac.compare_digest(token.encode(), expected):
        raise ProblemError(401, "invalid_service_credential", "Missing or wrong service credential")
