"""Refresh: spend a refresh token for the next pair of its session.

A legacy token (`<family>.<secret>`, issued before sessions) is migrated by its first
refresh: its successor belongs to a session with the family's id in the user's slot (so
`sid` = the family id, and its creation time is kept), and the legacy family is spent as
before, which decides any race between concurrent migrations and keeps reuse detection
working for the legacy tokens handed out earlier."""

from auth_service.errors import AuthError, InvalidRefreshToken, RefreshTokenReused
from auth_service.metrics import REFRESHES, REUSE_DETECTIONS
from auth_service.refresh_tokens import Presentation, RefreshTokenStore
from auth_service.session_store import NewSession
from auth_service.token_pairs import TokenMinter
from auth_service.tokens import RefreshToken, TokenPair
from auth_service.use_cases.sessions import Sessions
from auth_service.users_client import UsersClient
from shared import get_logger

_log = get_logger("refresh")
_LEGACY_AMR = ["pwd"]  # legacy families were all password logins


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
    def __init__(self, *, sessions: Sessions, legacy: RefreshTokenStore, users: UsersClient,
                 minter: TokenMinter) -> None:
        self.sessions = sessions
        self.store = sessions.store
        self.legacy = legacy
        self.users = users
        self.minter = minter

    async def __call__(self, raw_token: str, client_ip: str = "",
                       user_agent: str = "") -> TokenPair:
        """The successor pair (the same one again within the grace window); reuse after
        it ends the session (RefreshTokenReused); a disabled or deleted user cannot
        refresh (InvalidRefreshToken)."""
        token = RefreshToken.parse(raw_token)
        if token is None:
            REFRESHES.labels("invalid").inc()
            raise InvalidRefreshToken
        if token.user_id is None:
            return await self._migrate(token, client_ip, user_agent)
        user_id, sid = token.user_id, token.family
        seen = await self.store.check(token)
        if seen.verdict == "replay" and seen.pair is not None:
            REFRESHES.labels("replay").inc()
            return seen.pair
        if seen.verdict == "reused":  # check() has ended it
            await self.sessions.end(user_id, sid, reason="reused")
        if seen.verdict != "live":
            raise _refused(seen)
        role = await self._active_role(user_id, sid)
        # amr and auth_time come from the session: a refresh proves no factor, so it
        # never makes a step-up look more recent than it was.
        successor = self.minter.mint(user_id, role, sid, seen.amr or _LEGACY_AMR,
                                     seen.auth_time)
        # Concurrent presentations all reach here; the script lets exactly one rotate and
        # hands the others that rotation's pair.
        result = await self.store.rotate(token, successor)
        if result.verdict == "rotated":
            REFRESHES.labels("rotated").inc()
            return successor
        if result.verdict == "replay" and result.pair is not None:
            REFRESHES.labels("replay").inc()
            return result.pair
        if result.verdict == "reused":
            await self.sessions.end(user_id, sid, reason="reused")
        raise _refused(result)

    async def _active_role(self, user_id: str, sid: str) -> str:
        user = await self.users.get_user(user_id)
        if user is None or not user.get("is_active", False):
            await self.sessions.end(user_id, sid, reason="user_inactive")
            _log.info("refresh_refused_inactive_user", user_id=user_id)
            REFRESHES.labels("user_inactive").inc()
            raise InvalidRefreshToken
        return str(user.get("role", "user"))

    async def _migrate(self, token: RefreshToken, client_ip: str, user_agent: str) -> TokenPair:
        seen = await self.legacy.check(token)
        if seen.verdict == "replay" and seen.pair is not None:
            REFRESHES.labels("replay").inc()
            return seen.pair
        if seen.verdict == "reused" and seen.user_id is not None:
            # The family may have been migrated already: its session ends with it.
            await self.sessions.end(seen.user_id, token.family, reason="reused")
        if seen.verdict != "live" or seen.user_id is None:
            raise _refused(seen)
        user_id, sid = seen.user_id, token.family
        try:
            role = await self._active_role(user_id, sid)
        except InvalidRefreshToken:
            await self.legacy.revoke(sid, reason="user_inactive")
            raise
        successor = self.minter.mint(user_id, role, sid, _LEGACY_AMR, seen.created)
        # The successor's session first, so whoever wins the legacy rotation below hands
        # out a token that exists.
        started = await self.sessions.start(NewSession(
            user_id, sid, successor.refresh_token, client_ip, user_agent, _LEGACY_AMR,
            created=seen.created))
        if not started:
            raise _refused(Presentation("revoked", user_id, reason="ended"))
        result = await self.legacy.rotate(token, successor)
        if result.verdict == "rotated":
            REFRESHES.labels("migrated").inc()
            _log.info("refresh_family_migrated", user_id=user_id, session_id=sid)
            return successor
        await self.store.drop_token(user_id, sid, successor.refresh_token)
        if result.verdict == "replay" and result.pair is not None:
            REFRESHES.labels("replay").inc()
            return result.pair
        if result.verdict == "reused":
            await self.sessions.end(user_id, sid, reason="reused")
        raise _refused(result)
