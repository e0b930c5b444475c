"""Settings base class: one pydantic-settings class per service, fields named like env vars."""

import ssl
from pathlib import Path
from typing import Literal

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never reach a production deployment.
PLACEHOLDER_SECRETS = frozenset({
    "", "changethis", "change-me", "dev-internal-token", "dev-throttle-secret",
})


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses add their own; env var name == field name."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    SERVICE_NAME: str = "service"  # the `service` field of every log line
    # `production` refuses placeholder secrets and development shortcuts
    ENVIRONMENT: Literal["local", "test", "production"] = "local"
    HOST: str = "127.0.0.1"  # listen address (0.0.0.0 in containers)
    PORT: int = 8000  # listen port
    LOG_LEVEL: Literal["debug", "info", "warning", "error"] = "info"  # JSON logs on stdout

    # How long a client may take, and how many connections it may hold (shared.server).
    HEADER_TIMEOUT_SECONDS: PositiveFloat = 10.0  # whole request head, from its first byte
    BODY_TIMEOUT_SECONDS: PositiveFloat = 15.0  # longest gap between two pieces of a body: 408
    KEEP_ALIVE_TIMEOUT_SECONDS: PositiveFloat = 5.0  # an idle keep-alive connection is closed
    MAX_CONNECTIONS: PositiveInt = 10_000  # open client connections per process, then 503
    MAX_CONNECTIONS_PER_IP: NonNegativeInt = 0  # per client address (0 = no cap), then 503
    # A client that takes none of a response for this long (its socket buffers full) is
    # cut off: it would otherwise hold the connection and the response's upstream forever
    SEND_TIMEOUT_SECONDS: PositiveFloat = 30.0
    LINGER_SECONDS: PositiveFloat = 5.0  # after an early answer, unread input is drained ...
    LINGER_MAX_BYTES: NonNegativeInt = 16_777_216  # ... up to this much, so it is not a reset

    # Metrics have a private listener of their own (shared.metrics_listener), never on PORT.
    METRICS_HOST: str = "127.0.0.1"  # metrics listen address (0.0.0.0 in containers, unpublished)
    METRICS_PORT: NonNegativeInt = 0  # metrics listen port (each service sets its own); 0 = none

    def secret_fields(self) -> dict[str, str]:
        """Secrets that must not keep a placeholder value outside local/test; override."""
        return {}

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "ServiceSettings":
        if self.ENVIRONMENT == "production":
            secrets = self.secret_fields()
            if isinstance(self, RedisSettings):  # a cluster without passwords is open to all
                secrets["REDIS_PASSWORD"] = self.redis_password
            weak = [name for name, value in secrets.items()
                    if value in PLACEHOLDER_SECRETS or len(value) < 16]
            if weak:
                raise ValueError(f"placeholder or weak secret(s) in production: {', '.join(weak)}")
        return self


class JwtSettings(BaseSettings):
    """How access tokens are verified; identical in every service that verifies."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    JWKS_URL: str = "http://127.0.0.1:8001/.well-known/jwks.json"  # the auth service's public keys
    JWT_ISSUER: str = "authstack"  # required `iss` claim
    JWT_AUDIENCE: str = "authstack-api"  # required `aud` claim
    JWT_ALGORITHMS: str = "RS256,ES256"  # comma-separated; asymmetric only
    JWT_LEEWAY_SECONDS: int = 10  # clock skew allowed on `exp` and `nbf`
    TOKEN_CACHE_SIZE: NonNegativeInt = 10_000  # verified tokens kept until they expire; 0: off
    # The JWKS is refetched on a schedule: its Cache-Control max-age, but at most this often
    JWKS_REFRESH_MIN_SECONDS: PositiveFloat = 30.0
    # ... and at least this often (this often when the JWKS sends no max-age)
    JWKS_REFRESH_MAX_SECONDS: PositiveFloat = 900.0

    @model_validator(mode="after")
    def _refresh_bounds_ordered(self) -> "JwtSettings":
        if self.JWKS_REFRESH_MIN_SECONDS > self.JWKS_REFRESH_MAX_SECONDS:
            raise ValueError("JWKS_REFRESH_MIN_SECONDS exceeds JWKS_REFRESH_MAX_SECONDS")
        return self

    @property
    def jwt_algorithms(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.JWT_ALGORITHMS.split(",") if a.strip())


class RedisSettings(BaseSettings):
    """How a service reaches the Redis Cluster."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Startup nodes `host:port,...`; the client discovers the rest of the cluster
    REDIS_NODES: str = ",".join(f"127.0.0.1:{port}" for port in range(6379, 6385))
    REDIS_SOCKET_TIMEOUT_MS: int = 250  # connect, and the longest wait for a reply (frozen node)
    # The ACL user every connection authenticates as (AUTH before anything else); with an
    # empty name and a password, the legacy `AUTH <password>` of a requirepass server
    REDIS_USERNAME: str = ""
    # The ACL user's password (never logged); empty: no AUTH
    REDIS_PASSWORD: SecretStr = SecretStr("")
    # A file holding the password instead (a mounted secret); not together with REDIS_PASSWORD
    REDIS_PASSWORD_FILE: Path | None = None
    REDIS_TLS: bool = False  # TLS to every node (what a `rediss://` URL means)
    # PEM bundle the nodes' certificates are checked against; none: the system's CAs
    REDIS_TLS_CA_FILE: Path | None = None

    @model_validator(mode="after")
    def _one_redis_password_source(self) -> "RedisSettings":
        if self.REDIS_PASSWORD_FILE is not None:
            if self.REDIS_PASSWORD.get_secret_value():
                raise ValueError("set REDIS_PASSWORD or REDIS_PASSWORD_FILE, not both")
            if not self.REDIS_PASSWORD_FILE.is_file():
                raise ValueError(f"REDIS_PASSWORD_FILE {self.REDIS_PASSWORD_FILE} is not a file")
        if self.REDIS_TLS_CA_FILE is not None and not self.REDIS_TLS:
            raise ValueError("REDIS_TLS_CA_FILE needs REDIS_TLS=true")
        return self

    @property
    def redis_password(self) -> str:
        """The password, read from REDIS_PASSWORD_FILE when that is set ("" for none)."""
        if self.REDIS_PASSWORD_FILE is not None:
            return self.REDIS_PASSWORD_FILE.read_text().strip()
        return self.REDIS_PASSWORD.get_secret_value()

    def redis_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for the nodes (certificate and host name checked), or None."""
        if not self.REDIS_TLS:
            return None
        cafile = str(self.REDIS_TLS_CA_FILE) if self.REDIS_TLS_CA_FILE else None
        return ssl.create_default_context(cafile=cafile)
