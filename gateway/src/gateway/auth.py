"""Bearer-token checks for protected routes, with a bounded cache of verified tokens.

The cache is keyed by the exact token string and an entry lives until the token's `exp`,
so a cache hit can never accept a token the verifier would refuse on time grounds (nbf
was checked when it was first verified; the signature cannot change for the same string)."""

import time
from collections import OrderedDict

from shared.jwt import JwtVerifier, TokenError


class TokenCache:
    """LRU of token -> exp (epoch seconds), bounded to `size` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def valid(self, token: str, now: float) -> bool:
        expires = self._entries.get(token)
        if expires is None:
            return False
        if expires <= now:
            del self._entries[token]
            return False
        self._entries.move_to_end(token)
        return True

    def add(self, token: str, expires_at: float) -> None:
        self._entries[token] = expires_at
        self._entries.move_to_end(token)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class Authenticator:
    """Checks the Authorization header of a protected request."""

    def __init__(self, verifier: JwtVerifier, cache_size: int) -> None:
        self.verifier = verifier
        self.cache = TokenCache(cache_size)
        self.cache_hits = 0  # exported as gateway_token_cache_lookups
        self.cache_misses = 0

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
        now = time.time()
        if self.cache.valid(token, now):
            self.cache_hits += 1
            return
        self.cache_misses += 1
        principal = await self.verifier.verify(token)
        self.cache.add(token, principal.expires_at)
