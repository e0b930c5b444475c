"""Bearer-token checks for protected routes. Verified tokens are remembered by the
verifier (shared.VerifiedTokens, TOKEN_CACHE_SIZE) until they expire."""

from shared import JwtVerifier, bearer_token


class Authenticator:
    """Checks the Authorization header of a protected request."""

    def __init__(self, verifier: JwtVerifier) -> None:
        self.verifier = verifier

    async def check(self, authorization: bytes | None) -> None:
        """Returns when the request carries a valid bearer token; raises TokenError."""
        await self.verifier.verify(bearer_token(authorization))
