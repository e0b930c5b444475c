"""Auth-service settings: one class, field names equal the environment variable names."""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, model_validator

from auth_service.mail.settings import MailSettings
from shared import JwtSettings, RedisSettings, ServiceSettings, parse_networks
from shared.passwords import DEFAULT_QUEUE_LIMIT, PasswordSettings


def default_hashing_threads() -> int:
    """One core is left to the event loops: with as many argon2 threads as cores, a login
    storm would starve every other request on the host (bench W3 measured it)."""
    return max(1, (os.cpu_count() or 2) - 1)


class Settings(ServiceSettings, JwtSettings, RedisSettings, PasswordSettings, MailSettings):
    """Everything the auth service reads from its environment."""

    SERVICE_NAME: str = "auth-service"
    PORT: int = 8001
    METRICS_PORT: NonNegativeInt = 9101  # metrics listen port (private); 0 = none

    USER_SERVICE_URL: str = "http://127.0.0.1:8002"  # base URL of its internal API
    # The placeholder is refused in production (ServiceSettings.secret_fields).
    INTERNAL_API_TOKEN: str = "dev-internal-token"  # noqa: S105
    # connect + read budget for one call; a whole call is also bounded by it (never a hang)
    USER_SERVICE_TIMEOUT_SECONDS: float = Field(default=3.0, gt=0)
    UPSTREAM_RETRY_AFTER_SECONDS: int = Field(default=5, ge=1)  # Retry-After on its 503s

    # None: ./.jwt-keys locally (generated on first start); required in production.
    JWT_KEYS_DIR: Path | None = None
    JWT_SIGNING_ALG: Literal["RS256", "ES256"] = "RS256"  # algorithm of newly generated keys
    # How often running processes look for a rotation done by `auth-service rotate-keys`.
    JWT_KEYS_RELOAD_SECONDS: float = Field(default=10.0, gt=0)
    ACCESS_TOKEN_TTL_SECONDS: int = Field(default=900, ge=30, le=86400)  # access token `exp`
    REFRESH_TOKEN_TTL_SECONDS: int = Field(default=2_592_000, ge=60)  # refresh token life
    # A spent refresh token re-presented within this window gets the same successor pair;
    # after it, re-presenting revokes the whole family
    REFRESH_REUSE_GRACE_SECONDS: float = Field(default=10.0, ge=0, le=300)
    # Live sessions (refresh-token families) per user; a new one beyond it ends the least
    # recently used
    MAX_SESSIONS_PER_USER: int = Field(default=50, ge=1, le=1000)
    JWKS_MAX_AGE_SECONDS: int = Field(default=300, ge=0)  # Cache-Control max-age of the JWKS

    # argon2 threads, off the event loop; default: CPU cores - 1 (at least 1)
    HASH_CONCURRENCY: int = Field(default_factory=default_hashing_threads, ge=1)
    # Operations that may wait for a busy argon2 thread; more are refused at once with
    # 503 hashing_busy (sizing: docs/operations.md, "Login storms")
    HASH_QUEUE_LIMIT: int = Field(default=DEFAULT_QUEUE_LIMIT, ge=0)

    # Login throttling (model: auth_service/throttle.py, docs/operations.md). Failures allowed
    # before growing delays start, per (account, client IP) or (account, device token)
    THROTTLE_PAIR_FREE_FAILURES: int = Field(default=5, ge=0)
    # ... per account, from clients never seen signing in to it (only they are slowed)
    THROTTLE_ACCOUNT_FREE_FAILURES: int = Field(default=5, ge=0)
    # ... per client IP, on any accounts (credential stuffing)
    THROTTLE_IP_FREE_FAILURES: int = Field(default=20, ge=0)
    # ... per tried password, on any accounts from unknown clients (password spraying)
    THROTTLE_PASSWORD_FREE_FAILURES: int = Field(default=10, ge=0)
    THROTTLE_BASE_DELAY_SECONDS: float = Field(default=1.0, gt=0)  # first delay; doubles
    THROTTLE_MAX_DELAY_SECONDS: float = Field(default=900.0, gt=0)  # cap: never a lockout
    THROTTLE_WINDOW_SECONDS: int = Field(default=3600, ge=1)  # failures older are forgotten
    # An IP that signed in to an account is known to it this long (last sign-in) ...
    THROTTLE_KNOWN_IP_TTL_SECONDS: int = Field(default=30 * 86400, ge=60)
    THROTTLE_KNOWN_IPS_PER_ACCOUNT: int = Field(default=10, ge=1)  # ... the newest this many
    # Signs device tokens, keys the throttle's hashes of e-mails and tried passwords; rotating
    # it forgets every device. The placeholder is refused in production (secret_fields).
    THROTTLE_SECRET: str = "dev-throttle-secret"  # noqa: S105
    # A device token (cookie `device_token`, also in the login body) is valid this long
    DEVICE_TOKEN_TTL_SECONDS: int = Field(default=180 * 86400, ge=60)
    # The device cookie carries `Secure` (HTTPS only); false only for plain-http local setups
    DEVICE_COOKIE_SECURE: bool = True

    # The gateway forwards the client IP in X-Forwarded-For; only trust it from these peers.
    TRUSTED_PROXIES: str = "127.0.0.0/8,::1"
    # One try of a Redis call waits at most this long (a frozen node), then is tried again
    REDIS_CALL_BUDGET_SECONDS: float = Field(default=1.0, gt=0)
    # A request waits for Redis (a failover's new master) at most this long in total, then
    # 503 state_store_unavailable; keep it below the gateway's UPSTREAM_READ_TIMEOUT_SECONDS
    REDIS_WAIT_BUDGET_SECONDS: float = Field(default=6.0, gt=0)
    # Rotations, revocations and new sessions wait this long for a replica (WAIT 1)
    REDIS_REPLICA_ACK_TIMEOUT_MS: int = Field(default=100, ge=1, le=5000)
    MAX_BODY_BYTES: int = Field(default=16 * 1024, ge=1024)  # larger bodies get 413

    # Account lifecycle (docs/account-lifecycle.md). Login of an account whose address is
    # not confirmed answers 403 email_not_verified (after a correct password only)
    REQUIRE_VERIFIED_EMAIL: bool = False
    # Register answers 202 with one body whether or not the address is taken (its owner is
    # mailed instead of the caller being told 409); turn on with REQUIRE_VERIFIED_EMAIL
    REGISTRATION_ENUMERATION_SAFE: bool = False
    EMAIL_VERIFY_TOKEN_TTL_SECONDS: int = Field(default=86400, ge=60)  # verification link life
    PASSWORD_RESET_TOKEN_TTL_SECONDS: int = Field(default=1800, ge=60)  # reset link life
    EMAIL_CHANGE_TOKEN_TTL_SECONDS: int = Field(default=3600, ge=60)  # email-change link life
    # One address gets at most one mail of each kind (verify, reset, ...) per this long;
    # more asks are answered as usual but send nothing
    MAIL_ADDRESS_COOLDOWN_SECONDS: int = Field(default=60, ge=1)
    # Mails one client IP may ask for (forgot, resend) per window; then 429 mail_throttled
    MAIL_IP_LIMIT: int = Field(default=20, ge=1)
    MAIL_IP_WINDOW_SECONDS: int = Field(default=3600, ge=1)  # the window of MAIL_IP_LIMIT

    # MFA (docs/mfa.md): the issuer authenticator apps show (otpauth URI label; no ':')
    MFA_ISSUER: str = Field(default="Auth", min_length=1, max_length=64, pattern=r"^[^:]+$")
    # How long the mfa_token of a correct password (login of an account with MFA) lives
    MFA_TOKEN_TTL_SECONDS: int = Field(default=300, ge=30, le=3600)
    # Wrong codes one mfa_token survives; the next one kills it (sign in again)
    MFA_TOKEN_MAX_FAILURES: int = Field(default=5, ge=1, le=20)
    # Sensitive actions of an account with MFA (change password or email, disable MFA, new
    # recovery codes, admin routes) need a second factor proved at most this long ago
    STEP_UP_MAX_AGE_SECONDS: int = Field(default=600, ge=30, le=86400)

    def secret_fields(self) -> dict[str, str]:
        return {"INTERNAL_API_TOKEN": self.INTERNAL_API_TOKEN,
                "THROTTLE_SECRET": self.THROTTLE_SECRET}

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        parse_networks(self.TRUSTED_PROXIES)  # fail fast on a typo
        if self.THROTTLE_MAX_DELAY_SECONDS < self.THROTTLE_BASE_DELAY_SECONDS:
            raise ValueError("THROTTLE_MAX_DELAY_SECONDS must be >= THROTTLE_BASE_DELAY_SECONDS")
        if self.ENVIRONMENT == "production" and not self.DEVICE_COOKIE_SECURE:
            raise ValueError("DEVICE_COOKIE_SECURE=false is for local plain-http setups only")
        if self.ENVIRONMENT == "production" and self.JWT_KEYS_DIR is None:
            raise ValueError("JWT_KEYS_DIR is required in production")
        if self.JWT_SIGNING_ALG not in self.jwt_algorithms:
            raise ValueError("JWT_SIGNING_ALG must be one of JWT_ALGORITHMS")
        return self

    @property
    def keys_dir(self) -> Path:
        return self.JWT_KEYS_DIR or Path(".jwt-keys")

    @property
    def generate_missing_keys(self) -> bool:
        return self.ENVIRONMENT != "production"
