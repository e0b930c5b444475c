"""Access tokens (JWT) and opaque refresh tokens."""

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from jose import jwt

from auth_service.keys import KeyStore

# <family>.<secret>: the family id travels in the token so no lookup is needed to find it.
_REFRESH_RE = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43,86})$")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class RefreshToken:
    family: str
    token_hash: str  # only this is ever stored

    @classmethod
    def parse(cls, token: str) -> "RefreshToken | None":
        match = _REFRESH_RE.fullmatch(token)
        if match is None:
            return None
        return cls(match.group(1), hash_refresh_token(token))


def hash_refresh_token(token: str) -> str:
    # 256 random bits need no salt or slow hash: SHA-256 is enough to make a Redis dump useless.
    return hashlib.sha256(token.encode()).hexdigest()


def new_family_id() -> str:
    return secrets.token_urlsafe(16)


def new_refresh_token(family: str) -> str:
    return f"{family}.{secrets.token_urlsafe(32)}"


class AccessTokenIssuer:
    """Signs access tokens with the key ring's signing key (a jose key object, parsed once)."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, roles: list[str]) -> str:
        now = int(time.time())
        key = self.keys.ring.signer()
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_seconds,
            "jti": uuid.uuid4().hex,
            "roles": roles,
        }
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})
