"""A new access token and refresh token of one family, minted together."""

from auth_service.tokens import AccessTokenIssuer, TokenPair, new_refresh_token


class TokenMinter:
    def __init__(self, issuer: AccessTokenIssuer) -> None:
        self.issuer = issuer

    def mint(self, user_id: str, role: str, family: str) -> TokenPair:
        return TokenPair(
            access_token=self.issuer.issue(user_id, [role]),
            refresh_token=new_refresh_token(family),
            expires_in=self.issuer.ttl_seconds,
        )
