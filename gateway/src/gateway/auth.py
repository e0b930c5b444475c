"""Bearer-token checks for protected routes. Verified tokens are remembered by the
verifier (shared.jwt.VerifiedTokens, TOKEN_CACHE_SIZE) until they expire."""

from shared.jwt import JwtVerifier, TokenError


class Authenticator:
    """Checks the Authorization header of a protected request."""

    def __init__(self, verifier: JwtVerifier) -> None:
        self.verifier = verifier

    async def check(self, authorization: bytes | None) -> None:
        """Returns when the request carries a valid bearer token; raises TokenError."""
        if authorization is None:
            raise TokenError("missing_token", "A bearer access token is required")
        scheme, _, credentials = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            raise TokenError("missing_token", "A bearer access token is required")
        try:
            token = credentials.strip().decode("ascii")
        except UnicodeDecodeError:
            raise TokenError("invalid_token", "Malformed token") from None
        if not token:
            raise TokenError("missing_token", "A bearer access token is required")
        await self.verifier.verify(token)
