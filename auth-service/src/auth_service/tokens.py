"""Access tokens (JWT) and opaque refresh tokens."""

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from jose import jwt

from auth_service.keys import KeyStore

# <user id>.<session id>.<secret>: the user id routes to the slot of the user's sessions and
# the session id names the family, so no lookup is needed to find either.
_REFRESH_RE = re.compile(r"^([A-Za-z0-9-]{1,64})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43,86})$")
# <family>.<secret>: the shape issued before sessions (auth_service.refresh_tokens); read
# until the last of them has expired or been migrated by its first refresh.
_LEGACY_REFRESH_RE = re.compile(r"^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43,86})$")
# A user id as it may appear in a key's hash tag (the user service's are UUIDs).
USER_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class RefreshToken:
    family: str  # the session id (`sid`); a legacy token's family id
    token_hash: str  # only this is ever stored
    user_id: str | None = None  # None: a legacy token (its family's keys have no user)

    @classmethod
    def parse(cls, token: str) -> "RefreshToken | None":
        match = _REFRESH_RE.fullmatch(token)
        if match is not None:
            return cls(match.group(2), hash_refresh_token(token), match.group(1))
        legacy = _LEGACY_REFRESH_RE.fullmatch(token)
        if legacy is not None:
            return cls(legacy.group(1), hash_refresh_token(token))
        return None


def hash_refresh_token(token: str) -> str:
    # 256 random bits need no salt or slow hash: SHA-256 is enough to make a Redis dump useless.
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    # Its own random value, not derived from any secret: it is shown in access tokens and
    # session lists.
    return secrets.token_urlsafe(16)


def new_refresh_token(user_id: str, session_id: str) -> str:
    return f"{user_id}.{session_id}.{secrets.token_urlsafe(32)}"


class AccessTokenIssuer:
    """Signs access tokens with the key ring's signing key (a jose key object, parsed once)."""

    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, roles: list[str], *, session_id: str,
              amr: list[str], auth_time: int | None = None) -> str:
        """`auth_time`: when the user last proved a factor (None: now, a fresh sign-in);
        step-up checks read it (shared.Principal.has_recent_second_factor)."""
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
            "sid": session_id,
            "amr": amr,
            "auth_time": now if auth_time is None else auth_time,
        }
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})
