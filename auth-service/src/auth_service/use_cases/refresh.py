"""Refresh: spend a refresh token for the next pair of its family."""

from auth_service.errors import AuthError, InvalidRefreshToken, RefreshTokenReused
from auth_service.metrics import REFRESHES, REUSE_DETECTIONS
from auth_service.refresh_tokens import Presentation, RefreshTokenStore
from auth_service.token_pairs import TokenMinter
from auth_service.tokens import RefreshToken, TokenPair
from auth_service.users_client import UsersClient
from shared import get_logger

_log = get_logger("refresh")


def _refused(seen: Presentation) -> AuthError:
    if seen.verdict == "reused" or (seen.verdict == "revoked" and seen.reason == "reused"):
        if seen.verdict == "reused":
            _log.warning("refresh_token_reuse_detected", user_id=seen.user_id)
            REUSE_DETECTIONS.inc()
        REFRESHES.labels("reused").inc()
        return RefreshTokenReused()
    REFRESHES.labels("invalid").inc()
    return InvalidRefreshToken()


class Refresh:
    def __init__(self, *, refresh_tokens: RefreshTokenStore, users: UsersClient,
                 minter: TokenMinter) -> None:
        self.refresh_tokens = refresh_tokens
        self.users = users
        self.minter = minter

    async def __call__(self, raw_token: str) -> TokenPair:
        """The successor pair (the same one again within the grace window); reuse after
        it revokes the family (RefreshTokenReused); a disabled or deleted user cannot
        refresh (InvalidRefreshToken)."""
        token = RefreshToken.parse(raw_token)
        if token is None:
            REFRESHES.labels("invalid").inc()
            raise InvalidRefreshToken
        seen = await self.refresh_tokens.check(token)
        if seen.verdict == "replay" and seen.pair is not None:
            REFRESHES.labels("replay").inc()
            return seen.pair
        if seen.verdict != "live" or seen.user_id is None:
            raise _refused(seen)
        user = await self.users.get_user(seen.user_id)
        if user is None or not user.get("is_active", False):
            await self.refresh_tokens.revoke(token.family, reason="user_inactive")
            _log.info("refresh_refused_inactive_user", user_id=seen.user_id)
            REFRESHES.labels("user_inactive").inc()
            raise InvalidRefreshToken
        successor = self.minter.mint(seen.user_id, str(user.get("role", "user")), token.family)
        # Concurrent presentations all reach here; the script lets exactly one rotate and
        # hands the others that rotation's pair.
        result = await self.refresh_tokens.rotate(token, successor)
        if result.verdict == "rotated":
            REFRESHES.labels("rotated").inc()
            return successor
        if result.verdict == "replay" and result.pair is not None:
            REFRESHES.labels("replay").inc()
            return result.pair
        raise _refused(result)
