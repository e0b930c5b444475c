"""A new access token and refresh token of one session, minted together."""

from auth_service.tokens import AccessTokenIssuer, TokenPair, new_refresh_token


class TokenMinter:
    def __init__(self, issuer: AccessTokenIssuer) -> None:
        self.issuer = issuer

    def mint(self, user_id: str, role: str, session_id: str, amr: list[str],
             auth_time: int | None = None) -> TokenPair:
        """`auth_time`: None for a sign-in now; a refresh carries its session's forward."""
        return TokenPair(
            access_token=self.issuer.issue(user_id, [role], session_id=session_id, amr=amr,
                                           auth_time=auth_time),
            refresh_token=new_refresh_token(user_id, session_id),
            expires_in=self.issuer.ttl_seconds,
        )
