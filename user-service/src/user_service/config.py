"""User-service settings: one class, fields named like the environment variables."""

from pathlib import Path

from pydantic import NonNegativeInt, PositiveInt, SecretStr, model_validator

from shared import JwtSettings, RedisSettings, RevocationSettings, ServiceSettings
from shared.passwords import PasswordSettings
from user_service.mfa_crypto import KeyRing


class Settings(ServiceSettings, JwtSettings, PasswordSettings, RedisSettings,
               RevocationSettings):
    """Everything the user service reads from its environment."""

    SERVICE_NAME: str = "user-service"
    PORT: int = 8002
    METRICS_PORT: NonNegativeInt = 9102  # metrics listen port (private); 0 = none
    # The internal API (/internal/*, the auth service's) on a listener of its own, so a
    # network policy on ports can admit only the auth service to it; /internal then
    # answers 404 on PORT and the public routes 404 here. 0: everything on PORT
    INTERNAL_PORT: NonNegativeInt = 0

    # Async SQLAlchemy URL; the same URL drives migrations (psycopg 3 does sync and async).
    DATABASE_URL: str = "postgresql+psycopg://authstack:authstack@127.0.0.1:5432/authstack"
    DB_POOL_SIZE: int = 10  # pooled PostgreSQL connections per process
    # Extra connections under bursts, closed again as soon as they are returned: under
    # sustained load that is a connect per request (docs/performance.md), so 0 by default.
    DB_MAX_OVERFLOW: int = 0
    # Seconds a request waits for a pooled connection before answering 503.
    DB_POOL_TIMEOUT: float = 3.0
    # Seconds per connection attempt: a down PostgreSQL must turn into a quick 503.
    DB_CONNECT_TIMEOUT: int = 3
    DB_STATEMENT_TIMEOUT_MS: int = 5000  # server-side statement_timeout

    # Local default only; refused in production (shared._settings PLACEHOLDER_SECRETS).
    INTERNAL_API_TOKEN: str = "dev-internal-token"  # noqa: S105

    PAGE_SIZE_DEFAULT: int = 50  # GET /users page size without `limit`
    PAGE_SIZE_MAX: int = 100  # larger `limit` values are clamped to this

    # How long a revocation append waits for a replica's acknowledgement (WAIT)
    REVOCATION_REPLICA_ACK_MS: int = 1000

    # Keys sealing the TOTP secrets: `kid:base64(32 random bytes)`, comma-separated; the
    # first encrypts, all decrypt (rotation: user-service/README.md). Empty: MFA answers 503
    # (the server refuses to start so in production; migrations do not need it)
    MFA_ENCRYPTION_KEYS: SecretStr = SecretStr("")
    # A file holding the key ring instead (a mounted secret); not together with the above
    MFA_ENCRYPTION_KEYS_FILE: Path | None = None
    # An account with MFA on needs a second factor at most this old for admin changes
    STEP_UP_MAX_AGE_SECONDS: PositiveInt = 600

    @model_validator(mode="after")
    def _one_valid_mfa_key_ring(self) -> "Settings":
        if self.MFA_ENCRYPTION_KEYS_FILE is not None:
            if self.MFA_ENCRYPTION_KEYS.get_secret_value():
                raise ValueError("set MFA_ENCRYPTION_KEYS or MFA_ENCRYPTION_KEYS_FILE, not both")
            if not self.MFA_ENCRYPTION_KEYS_FILE.is_file():
                raise ValueError(
                    f"MFA_ENCRYPTION_KEYS_FILE {self.MFA_ENCRYPTION_KEYS_FILE} is not a file")
        self.mfa_key_ring()  # a malformed ring fails at start, not at the first enrolment
        return self

    def mfa_key_ring(self) -> KeyRing:
        """The MFA encryption keys (read from MFA_ENCRYPTION_KEYS_FILE when that is set)."""
        if self.MFA_ENCRYPTION_KEYS_FILE is not None:
            return KeyRing.parse(self.MFA_ENCRYPTION_KEYS_FILE.read_text())
        return KeyRing.parse(self.MFA_ENCRYPTION_KEYS.get_secret_value())

    def secret_fields(self) -> dict[str, str]:
        return {"INTERNAL_API_TOKEN": self.INTERNAL_API_TOKEN}

    @model_validator(mode="after")
    def _internal_port_of_its_own(self) -> "Settings":
        if self.INTERNAL_PORT and self.INTERNAL_PORT in (self.PORT, self.METRICS_PORT):
            raise ValueError("INTERNAL_PORT must differ from PORT and METRICS_PORT")
        return self
