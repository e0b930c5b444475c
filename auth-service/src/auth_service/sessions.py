"""Login, refresh and logout as operations on the service container (routes stay thin)."""

import time

from auth_service.deps import Resources
from auth_service.metrics import LOGINS, REFRESHES, REUSE_DETECTIONS
from auth_service.refresh import Presentation
from auth_service.tokens import (
    RefreshToken,
    TokenPair,
    new_family_id,
    new_refresh_token,
)
from auth_service.users_client import Credentials
from shared import ProblemError, get_logger
from shared.passwords import PasswordCheck

_log = get_logger("sessions")


def invalid_credentials() -> ProblemError:
    # One body for unknown e-mail, wrong password and inactive account: no enumeration.
    return ProblemError(401, "invalid_credentials", "Incorrect email or password",
                        headers={"WWW-Authenticate": "Bearer"})


def invalid_refresh_token() -> ProblemError:
    return ProblemError(401, "invalid_refresh_token", "Refresh token is invalid or expired")


def refresh_token_reused() -> ProblemError:
    return ProblemError(401, "refresh_token_reused",
                        "Refresh token was already used; the session has been revoked")


async def authenticate(s: Resources, email: str, password: str, client_ip: str) -> Credentials:
    """The account for these credentials, or 401/429; throttling comes before any work."""
    wait = await s.throttle.retry_after(email, client_ip)
    if wait > 0:
        LOGINS.labels("throttled").inc()
        raise ProblemError(429, "login_throttled", "Too many failed logins; retry later",
                           headers={"Retry-After": str(wait)})
    credentials = await s.users.credentials(email)
    check = PasswordCheck(valid=False)
    if credentials is None:
        await s.hasher.verify_dummy(password)  # the same work as a wrong password
    else:
        check = await s.hasher.verify(credentials.password_hash, password)
    if credentials is None or not check.valid or not credentials.is_active:
        await s.throttle.record_failure(email, client_ip)
        LOGINS.labels("invalid_credentials").inc()
        raise invalid_credentials()
    await s.throttle.record_success(email)
    LOGINS.labels("success").inc()
    if check.needs_rehash:
        await _upgrade_hash(s, credentials, password)
    return credentials


async def _upgrade_hash(s: Resources, credentials: Credentials, password: str) -> None:
    try:
        new_hash = await s.hasher.hash(password)
        await s.users.set_password_hash(credentials.id, new_hash)
    except ProblemError:  # the login itself succeeded; upgrade on a later one
        _log.warning("password_rehash_failed", user_id=credentials.id)
    else:
        _log.info("password_rehashed", user_id=credentials.id)


def _mint(s: Resources, user_id: str, role: str, family: str) -> TokenPair:
    return TokenPair(
        access_token=s.issuer.issue(user_id, [role]),
        refresh_token=new_refresh_token(family),
        expires_in=s.issuer.ttl_seconds,
    )


async def start_session(s: Resources, user_id: str, role: str) -> TokenPair:
    """A new token family for a fresh login."""
    pair = _mint(s, user_id, role, new_family_id())
    token = RefreshToken.parse(pair.refresh_token)
    assert token is not None
    await s.refresh.create_family(token.family, pair.refresh_token, user_id, int(time.time()))
    return pair


def _refused(seen: Presentation) -> ProblemError:
    if seen.verdict == "reused" or (seen.verdict == "revoked" and seen.reason == "reused"):
        if seen.verdict == "reused":
            _log.warning("refresh_token_reuse_detected", user_id=seen.user_id)
            REUSE_DETECTIONS.inc()
        REFRESHES.labels("reused").inc()
        return refresh_token_reused()
    REFRESHES.labels("invalid").inc()
    return invalid_refresh_token()


async def refresh_session(s: Resources, raw_token: str) -> TokenPair:
    """Spend a refresh token for a new pair (or the same successor again within the grace
    window); reuse after it revokes the family; a disabled or deleted user cannot refresh."""
    token = RefreshToken.parse(raw_token)
    if token is None:
        REFRESHES.labels("invalid").inc()
        raise invalid_refresh_token()
    seen = await s.refresh.check(token)
    if seen.verdict == "replay" and seen.pair is not None:
        REFRESHES.labels("replay").inc()
        return seen.pair
    if seen.verdict != "live" or seen.user_id is None:
        raise _refused(seen)
    user = await s.users.get_user(seen.user_id)
    if user is None or not user.get("is_active", False):
        await s.refresh.revoke(token.family, reason="user_inactive")
        _log.info("refresh_refused_inactive_user", user_id=seen.user_id)
        REFRESHES.labels("user_inactive").inc()
        raise invalid_refresh_token()
    successor = _mint(s, seen.user_id, str(user.get("role", "user")), token.family)
    # Concurrent presentations all reach here; the script lets exactly one rotate and
    # hands the others that rotation's pair.
    result = await s.refresh.rotate(token, successor)
    if result.verdict == "rotated":
        REFRESHES.labels("rotated").inc()
        return successor
    if result.verdict == "replay" and result.pair is not None:
        REFRESHES.labels("replay").inc()
        return result.pair
    raise _refused(result)


async def end_session(s: Resources, raw_token: str, subject: str) -> bool:
    """Revoke the token's family if it belongs to `subject`; True when it did."""
    token = RefreshToken.parse(raw_token)
    if token is None:
        return False
    return await s.refresh.revoke(token.family, owner=subject, reason="logout")
