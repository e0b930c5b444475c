"""Logout: end a refresh token's family, if it is the caller's."""

from auth_service.refresh_tokens import RefreshTokenStore
from auth_service.tokens import RefreshToken


class Logout:
    def __init__(self, *, refresh_tokens: RefreshTokenStore) -> None:
        self.refresh_tokens = refresh_tokens

    async def __call__(self, raw_token: str, subject: str) -> bool:
        """Revoke the token's family if it belongs to `subject`; True when it did."""
        token = RefreshToken.parse(raw_token)
        if token is None:
            return False
        return await self.refresh_tokens.revoke(token.family, owner=subject, reason="logout")
