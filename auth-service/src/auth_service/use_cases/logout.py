"""Logout: end a refresh token's session, if it is the caller's."""

from auth_service.refresh_tokens import RefreshTokenStore
from auth_service.tokens import RefreshToken
from auth_service.use_cases.sessions import Sessions


class Logout:
    def __init__(self, *, sessions: Sessions, legacy: RefreshTokenStore) -> None:
        self.sessions = sessions
        self.legacy = legacy

    async def __call__(self, raw_token: str, subject: str) -> None:
        """End the token's session if it belongs to `subject`; anything else is a no-op
        (the caller learns nothing about tokens that are not theirs)."""
        token = RefreshToken.parse(raw_token)
        if token is None:
            return
        if token.user_id is None:  # a legacy family; its session, if it was migrated
            if not await self.legacy.revoke(token.family, owner=subject, reason="logout"):
                return
        elif token.user_id != subject:
            return
        await self.sessions.end(subject, token.family, reason="logout")
