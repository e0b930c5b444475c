"""Access-token verification against a JWKS: the one verifier every service uses.

Keys are parsed once into key objects (never per request). Only asymmetric keys of the
configured algorithms are accepted, and a token's `alg` must equal its key's `alg`, which
closes algorithm-confusion attacks (HS256 signed with the public key, `none`)."""

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from jose import jwk, jwt
from jose.exceptions import ExpiredSignatureError, JWTClaimsError, JWTError

from shared._logging import get_logger
from shared._settings import JwtSettings

_log = get_logger("jwt")

ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
MAX_TOKEN_LENGTH = 8192
# Header parameters that point at keys elsewhere; we never follow them, and refuse them.
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
# Cache-Control directives compare case-insensitively (RFC 9111 5.2).
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
# `amr` values that prove a second factor: a TOTP code ("otp") or a recovery code ("mfa").
SECOND_FACTOR_METHODS = frozenset({"otp", "mfa"})
# The first retry after a failed JWKS fetch; doubled per failure up to the refresh maximum.
_FIRST_RETRY_SECONDS = 0.5


def max_age_of(cache_control: str | None) -> float | None:
    """The `max-age` of a Cache-Control header, or None when it has none."""
    found = _MAX_AGE.search(cache_control or "")
    return float(found.group(1)) if found else None


class TokenError(Exception):
    """The token is not acceptable; `code` is the stable problem code, `status` the HTTP
    status to answer with (401, or 503 when the verifier cannot tell)."""

    status = 401

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class RevocationUnavailable(TokenError):
    """The verifier cannot tell whether the token was revoked (its revocation feed has been
    out of touch too long, or has not caught up since start): fail closed, retry later."""

    status = 503

    def __init__(self, detail: str = "Revocation state is unavailable; retry later") -> None:
        super().__init__("revocation_unavailable", detail)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified access token speaks for."""

    subject: str
    roles: tuple[str, ...]
    token_id: str
    expires_at: int
    claims: dict[str, Any] = field(repr=False)
    session_id: str | None = None  # the `sid` claim: the session (refresh family) it belongs to
    issued_at: int = 0  # `iat`, Unix seconds

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def amr(self) -> tuple[str, ...]:
        """How the session authenticated (RFC 8176 values): ("pwd",), ("pwd", "otp") after a
        TOTP code, ("pwd", "mfa") after a recovery code."""
        value = self.claims.get("amr")
        return tuple(m for m in value if isinstance(m, str)) if isinstance(value, list) else ()

    @property
    def auth_time(self) -> int:
        """When the user last proved a factor (`auth_time`, Unix s); `iat` for tokens minted
        before the claim existed."""
        value = self.claims.get("auth_time")
        return value if isinstance(value, int) and not isinstance(value, bool) else self.issued_at

    def has_recent_second_factor(self, max_age_seconds: float, now: float | None = None) -> bool:
        """A second factor is in `amr` and was proved at most `max_age_seconds` ago: what a
        sensitive action (step-up) asks of an account with MFA on."""
        if not SECOND_FACTOR_METHODS.intersection(self.amr):
            return False
        return (time.time() if now is None else now) - self.auth_time <= max_age_seconds


def keys_from_jwks(jwks: dict[str, Any], algorithms: frozenset[str]) -> dict[str, tuple[Any, str]]:
    """kid -> (key object, alg) for every usable public key in a JWK Set."""
    keys: dict[str, tuple[Any, str]] = {}
    for entry in jwks.get("keys", []):
        kid, alg, kty = entry.get("kid"), entry.get("alg"), entry.get("kty")
        if not isinstance(kid, str) or alg not in algorithms or kty not in ("RSA", "EC"):
            continue
        if entry.get("use", "sig") != "sig" or "d" in entry:  # never accept private material
            continue
        try:
            keys[kid] = (jwk.construct(entry, algorithm=alg), alg)
        except Exception as exc:
            _log.warning("jwks_key_skipped", kid=kid, error=type(exc).__name__)
    return keys


class KeySet(Protocol):
    def get(self, kid: str) -> tuple[Any, str] | None: ...

    async def refresh_for_unknown_kid(self) -> None: ...


class StaticKeySet:
    """Keys given up front (tests, or a JWKS file)."""

    def __init__(self, jwks: dict[str, Any], algorithms: frozenset[str]) -> None:
        self._keys = keys_from_jwks(jwks, algorithms)

    def get(self, kid: str) -> tuple[Any, str] | None:
        return self._keys.get(kid)

    async def refresh_for_unknown_kid(self) -> None:
        return None


class RemoteKeySet:
    """Keys fetched from the auth service's JWKS URL and cached.

    An unknown kid triggers a refetch at most once per `min_refetch_interval` seconds, so a
    flood of forged kids cannot turn into a flood of JWKS requests."""

    def __init__(
        self,
        url: str,
        algorithms: frozenset[str],
        *,
        client: httpx.AsyncClient | None = None,
        min_refetch_interval: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.algorithms = algorithms
        self.min_refetch_interval = min_refetch_interval
        self.refresh_count = 0
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self._keys: dict[str, tuple[Any, str]] = {}
        self._last_fetch = float("-inf")
        self.max_age: float | None = None  # of the last good response

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    def get(self, kid: str) -> tuple[Any, str] | None:
        return self._keys.get(kid)

    async def fetch(self) -> None:
        """Fetch the JWKS now; raises when the auth service cannot be reached."""
        self._last_fetch = time.monotonic()
        response = await self._client.get(self.url)
        response.raise_for_status()
        # Replaced whole, never merged: a kid withdrawn from the JWKS stops verifying (and
        # VerifiedTokens drops the tokens it verified, as the key object is gone).
        self._keys = keys_from_jwks(response.json(), self.algorithms)
        self.max_age = max_age_of(response.headers.get("cache-control"))
        self.refresh_count += 1
        _log.info("jwks_fetched", kids=sorted(self._keys), max_age=self.max_age)

    def refresh_delay(self, min_seconds: float, max_seconds: float) -> float:
        """When the next scheduled fetch is due after a good one: the response's max-age
        within [min_seconds, max_seconds] (max_seconds when it sent none)."""
        wanted = max_seconds if self.max_age is None else self.max_age
        return min(max(wanted, min_seconds), max_seconds)

    async def keep_fresh(self, min_seconds: float, max_seconds: float) -> None:
        """Fetch now and then on the max-age schedule, until cancelled (a background task).

        A failed fetch keeps the last good key set (tokens keep verifying while the auth
        service is briefly away) and is retried with doubling backoff up to max_seconds."""
        failures = 0
        while True:
            try:
                await self.fetch()
            except Exception as exc:
                failures += 1
                delay = min(_FIRST_RETRY_SECONDS * 2 ** min(failures - 1, 20), max_seconds)
                _log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__,
                             failures=failures, retry_in=delay, keys_kept=len(self._keys))
            else:
                failures = 0
                delay = self.refresh_delay(min_seconds, max_seconds)
            await asyncio.sleep(delay)

    async def refresh_for_unknown_kid(self) -> None:
        # Until a first fetch has succeeded (we started before the auth service), valid
        # tokens would be refused as "unknown key" for the whole start-up backoff: retry
        # sooner then, still at most twice a second.
        interval = self.min_refetch_interval if self._keys else min(self.min_refetch_interval,
                                                                     0.5)
        if time.monotonic() - self._last_fetch < interval:
            return
        try:
            await self.fetch()
        except Exception as exc:  # the token is then refused as unknown-kid
            _log.warning("jwks_fetch_failed", url=self.url, error=type(exc).__name__)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class VerifiedTokens:
    """A bounded LRU of tokens that passed verification: exact token string -> principal.

    An entry is used only before the token's `exp` (nbf and the signature were checked when
    it was verified, and cannot change for the same string), and only while the key set
    still holds the very key object it was verified with: a JWKS refetch that drops or
    replaces the key drops its tokens' entries too."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[Principal, str, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float, keys: "KeySet") -> Principal | None:
        entry = self._entries.get(token)
        if entry is not None:
            principal, kid, key = entry
            if now < principal.expires_at and keys.get(kid) is key:
                self._entries.move_to_end(token)
                self.hits += 1
                return principal
            del self._entries[token]
        self.misses += 1
        return None

    def add(self, token: str, principal: Principal, kid: str, key: object) -> None:
        self._entries[token] = (principal, kid, key)
        self._entries.move_to_end(token)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


class RevocationCheck(Protocol):
    """What a verifier asks about every token it accepts, cached or not: in-memory
    lookups only, never a round trip (shared.redis.RevocationFeed)."""

    def check(self, principal: Principal) -> None:
        """Raise TokenError (`token_revoked`) or RevocationUnavailable; else return."""
        ...


class JwtVerifier:
    """Verifies signature, algorithm, `iss`, `aud`, `exp`, `nbf`, `iat`, `sub`, `jti`."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        algorithms: frozenset[str],
        leeway: int = 10,
        cache_size: int = 0,
        revocations: RevocationCheck | None = None,
    ) -> None:
        unknown = algorithms - ASYMMETRIC_ALGORITHMS
        if unknown or not algorithms:
            raise ValueError(f"only asymmetric JWT algorithms are allowed, got {sorted(unknown)}")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        # RS256 verification is most of the cost of a request that carries a token, and
        # clients send the same token for its whole lifetime.
        self.cache = VerifiedTokens(cache_size) if cache_size > 0 else None
        # Set once the service's revocation feed exists (it may start after the verifier).
        self.revocations = revocations
        self._options = {
            "leeway": leeway,
            "require_exp": True,
            "require_iat": True,
            "require_nbf": True,
            "require_iss": True,
            "require_aud": True,
            "require_sub": True,
            "require_jti": True,
        }

    @classmethod
    def from_settings(cls, keys: KeySet, settings: JwtSettings) -> "JwtVerifier":
        return cls(keys, issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE,
                   algorithms=settings.jwt_algorithms, leeway=settings.JWT_LEEWAY_SECONDS,
                   cache_size=settings.TOKEN_CACHE_SIZE)

    def _key_for(self, token: str) -> tuple[str, dict[str, Any]]:
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenError("invalid_token", "Malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise TokenError("invalid_token", "Malformed token") from None
        if not isinstance(header, dict) or _FORBIDDEN_HEADERS & header.keys():
            raise TokenError("invalid_token", "Unsupported token header")
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid or len(kid) > 128:
            raise TokenError("invalid_token", "Token has no usable key id")
        if alg not in self.algorithms:
            raise TokenError("invalid_token", "Token algorithm not allowed")
        return kid, header

    def _decode(self, token: str, key: Any, key_alg: str, header_alg: str) -> Principal:
        if header_alg != key_alg:
            raise TokenError("invalid_token", "Token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token, key, algorithms=[key_alg], audience=self.audience,
                issuer=self.issuer, options=self._options,
            )
        except ExpiredSignatureError:
            raise TokenError("token_expired", "Token has expired") from None
        except JWTClaimsError as exc:
            raise TokenError("invalid_token", f"Token claims rejected: {exc}") from None
        except JWTError:
            raise TokenError("invalid_token", "Token signature or claims invalid") from None
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenError("invalid_token", "Token roles claim is malformed")
        if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
            raise TokenError("invalid_token", "Token subject or id is malformed")
        # RFC 7519 NumericDate: python-jose also accepts numeric strings ("exp": "1700000000").
        if not all(type(claims.get(c)) in (int, float) for c in ("exp", "iat", "nbf")):
            raise TokenError("invalid_token", "Token time claims are malformed")
        sid = claims.get("sid")
        if sid is not None and not isinstance(sid, str):
            raise TokenError("invalid_token", "Token session id is malformed")
        return Principal(
            subject=claims["sub"], roles=tuple(roles), token_id=claims["jti"],
            expires_at=int(claims["exp"]), claims=claims, session_id=sid,
            issued_at=int(claims["iat"]),
        )

    async def verify(self, token: str) -> Principal:
        """The token's principal, or TokenError. Refetches the JWKS for an unknown kid.
        A revoked token is refused (`token_revoked`) from the cache too: the revocation
        check runs on every call, after the signature (a forged token learns nothing)."""
        revocations = self.revocations
        if self.cache is not None:
            cached = self.cache.get(token, time.time(), self.keys)
            if cached is not None:
                if revocations is not None:
                    revocations.check(cached)
                return cached
        kid, header = self._key_for(token)
        found = self.keys.get(kid)
        if found is None:
            await self.keys.refresh_for_unknown_kid()
            found = self.keys.get(kid)
            if found is None:
                raise TokenError("invalid_token", "Token signed with an unknown key")
        key, key_alg = found
        principal = self._decode(token, key, key_alg, header["alg"])
        if self.cache is not None:
            self.cache.add(token, principal, kid, found)
        if revocations is not None:
            revocations.check(principal)
        return principal
