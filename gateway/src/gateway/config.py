"""Gateway settings: one flat object, env var name == field name, validated at start-up."""

from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import NonNegativeInt, PositiveFloat, field_validator, model_validator

from gateway.cors import CorsPolicy, parse_origins
from shared import (
    JwtSettings,
    Network,
    RedisSettings,
    RevocationSettings,
    ServiceSettings,
    parse_networks,
)
from shared.redis import parse_nodes

FailMode = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """One rate-limit bucket: `limit` requests per `window` seconds per client IP."""

    name: str
    limit: int
    window: int
    fail_mode: FailMode


# Per-IP buckets for the credential endpoints, on unless RATE_LIMIT_DEFAULT_ROUTES=false
# (the reasons for each number are in gateway/README.md, "Default credential policies").
DEFAULT_ROUTE_POLICIES = (
    "/auth/login=10/60,/auth/login/mfa=10/60,/auth/register=5/60,"
    "/auth/password/forgot=5/3600,/auth/password/reset=10/3600,"
    "/auth/verify-email/request=5/3600,/auth/verify-email/resend=5/3600,"
    "/auth/verify-email=10/3600,/auth/email/change=5/3600,/auth/email/change/confirm=10/3600,"
    "/auth/password/change=10/3600,/auth/reauthenticate=10/3600,/auth/mfa/totp=10/3600,"
    "/auth/mfa/totp/confirm=10/3600"
)
# A RATE_LIMIT_ROUTES rule that switches a path back to the `default` bucket.
USE_DEFAULT_BUCKET = "default"


def parse_route_policies(spec: str, default_fail_mode: FailMode) -> dict[str, RoutePolicy | None]:
    """Path -> policy, from JSON or the compact `/auth/login=5/60,/auth/register=5/60:closed`.

    JSON form: {"/auth/login": {"limit": 5, "window": 60, "fail_mode": "closed"}} or
    {"/auth/login": "5/60"}. Every path is its own bucket, named after the path. The rule
    `default` (`/auth/login=default`) maps to None: that path has no bucket of its own."""
    spec = spec.strip()
    if not spec:
        return {}
    raw: dict[str, object]
    if spec.startswith("{"):
        loaded = orjson.loads(spec)
        if not isinstance(loaded, dict):
            raise ValueError("RATE_LIMIT_ROUTES JSON must be an object")
        raw = loaded
    else:
        raw = {}
        for item in spec.split(","):
            name, sep, text = item.strip().partition("=")
            if not sep:
                raise ValueError(f"RATE_LIMIT_ROUTES entry {item!r} is not path=N/W")
            raw[name.strip()] = text.strip()
    policies: dict[str, RoutePolicy | None] = {}
    for path, rule in raw.items():
        if not path.startswith("/") or '"' in path or "\\" in path:
            raise ValueError(f"RATE_LIMIT_ROUTES path {path!r} must start with '/'")
        fail_mode: str = default_fail_mode
        if rule == USE_DEFAULT_BUCKET:
            policies[path] = None
            continue
        if isinstance(rule, dict):
            limit, window = int(rule["limit"]), int(rule["window"])
            fail_mode = str(rule.get("fail_mode") or default_fail_mode)
        elif isinstance(rule, str):
            counts, _, mode = rule.partition(":")
            limit_s, _, window_s = counts.partition("/")
            limit, window = int(limit_s), int(window_s)
            fail_mode = mode or default_fail_mode
        else:
            raise ValueError(f"RATE_LIMIT_ROUTES rule for {path!r} is not understood")
        if limit < 1 or window < 1:
            raise ValueError(f"RATE_LIMIT_ROUTES rule for {path!r} needs limit, window >= 1")
        if fail_mode not in ("open", "closed"):
            raise ValueError(f"RATE_LIMIT_ROUTES fail mode for {path!r} must be open|closed")
        policies[path] = RoutePolicy(path, limit, window, fail_mode)  # type: ignore[arg-type]
    return policies


class Settings(ServiceSettings, JwtSettings, RedisSettings, RevocationSettings):
    """Everything the gateway reads from the environment."""

    SERVICE_NAME: str = "gateway"
    PORT: int = 3000
    METRICS_PORT: NonNegativeInt = 9100  # metrics listen port (private); 0 = none
    # The public edge: keep idle clients longer than typical load balancers' 60 s, and
    # cap what one client address may hold (TRUSTED_PROXIES peers are exempt).
    KEEP_ALIVE_TIMEOUT_SECONDS: PositiveFloat = 75.0  # an idle keep-alive connection is closed
    MAX_CONNECTIONS_PER_IP: NonNegativeInt = 256  # per client address (0 = no cap), then 503

    AUTH_SERVICE_URL: str = "http://127.0.0.1:8001"  # upstream for /auth/* and the JWKS
    USER_SERVICE_URL: str = "http://127.0.0.1:8002"  # upstream for /users*
    UPSTREAM_CONNECT_TIMEOUT_SECONDS: float = 2.0  # then 504 upstream_timeout
    UPSTREAM_READ_TIMEOUT_SECONDS: float = 10.0  # then 504 upstream_timeout
    UPSTREAM_POOL_SIZE: int = 256  # keep-alive connections per upstream host
    UPSTREAM_KEEPALIVE_SECONDS: float = 4.0  # below uvicorn's 5 s so we never reuse a closed one
    READINESS_CACHE_SECONDS: float = 1.0  # upstream readiness is re-asked at most this often

    RATE_LIMIT_ENABLED: bool = True  # off only to attribute cost in benchmarks
    RATE_LIMIT_REQUESTS: int = 30  # default policy: N allowed requests per client IP ...
    RATE_LIMIT_WINDOW_SECONDS: int = 60  # ... in any window of this many seconds
    # Per-route buckets: `/auth/login=5/60,/auth/register=5/60:closed` or the JSON form;
    # merged per path over the built-in ones (configured wins; `/path=default` drops one)
    RATE_LIMIT_ROUTES: str = ""
    # Built-in per-IP buckets for login, register and the password/verification endpoints
    # (gateway/README.md); false = only RATE_LIMIT_ROUTES
    RATE_LIMIT_DEFAULT_ROUTES: bool = True
    # Redis unusable: `open` limits with the in-process fallback, `closed` answers 503
    RATE_LIMIT_FAIL_MODE: FailMode = "open"
    RATE_LIMIT_KEY_PREFIX: str = "rl"  # Redis keys are `<prefix>:{<bucket>:<ip>}`
    REDIS_BUDGET_MS: int = 150  # longest a request waits on Redis before the fallback decides
    FALLBACK_MAX_KEYS: int = 100_000  # client IPs the in-process fallback limiter remembers
    CIRCUIT_FAILURE_THRESHOLD: int = 5  # consecutive Redis failures that open the breaker
    CIRCUIT_OPEN_SECONDS: float = 2.0  # breaker cool-down before one probe request
    REDIS_STARTUP_WAIT_SECONDS: float = 3.0  # start-up wait for cluster discovery, then serve

    # Networks whose X-Forwarded-For is believed (comma-separated CIDRs); empty = none
    TRUSTED_PROXIES: str = ""

    MAX_BODY_BYTES: int = 1_048_576  # larger request bodies get 413, also when streamed
    MAX_URL_LENGTH: int = 8192  # longer request targets get 414
    MAX_HEADER_BYTES: int = 32_768  # larger header sections get 431

    # Browser origins that may call the API: exact `scheme://host[:port]`, comma-separated,
    # or `*`; empty = no CORS headers at all (`make up` allows the :5173 SPA dev servers)
    CORS_ALLOWED_ORIGINS: str = ""
    CORS_ALLOWED_METHODS: str = "GET,HEAD,POST,PUT,PATCH,DELETE"  # what preflights may ask
    CORS_ALLOWED_HEADERS: str = "Authorization,Content-Type,X-Request-ID"  # request headers
    CORS_ALLOW_CREDENTIALS: bool = False  # cookies/auth from the browser; never with `*`
    CORS_MAX_AGE_SECONDS: NonNegativeInt = 600  # how long a browser may cache a preflight

    JWT_ENABLED: bool = True  # off only in benchmarks; refused in production
    JWKS_MIN_REFETCH_SECONDS: float = 5.0  # an unknown kid refetches the JWKS at most this often

    @field_validator("AUTH_SERVICE_URL", "USER_SERVICE_URL", "JWKS_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _validate(self) -> "Settings":
        positive = {
            "RATE_LIMIT_REQUESTS": self.RATE_LIMIT_REQUESTS,
            "RATE_LIMIT_WINDOW_SECONDS": self.RATE_LIMIT_WINDOW_SECONDS,
            "REDIS_BUDGET_MS": self.REDIS_BUDGET_MS,
            "UPSTREAM_POOL_SIZE": self.UPSTREAM_POOL_SIZE,
            "MAX_BODY_BYTES": self.MAX_BODY_BYTES,
            "MAX_URL_LENGTH": self.MAX_URL_LENGTH,
            "MAX_HEADER_BYTES": self.MAX_HEADER_BYTES,
            "FALLBACK_MAX_KEYS": self.FALLBACK_MAX_KEYS,
            "CIRCUIT_FAILURE_THRESHOLD": self.CIRCUIT_FAILURE_THRESHOLD,
        }
        bad = [name for name, value in positive.items() if value <= 0]
        if bad:
            raise ValueError(f"must be positive: {', '.join(bad)}")
        if self.UPSTREAM_CONNECT_TIMEOUT_SECONDS <= 0 or self.UPSTREAM_READ_TIMEOUT_SECONDS <= 0:
            raise ValueError("upstream timeouts must be positive")
        if not self.JWT_ENABLED and self.ENVIRONMENT == "production":
            raise ValueError("JWT_ENABLED=false is for benchmarks only, never in production")
        if not self.RATE_LIMIT_KEY_PREFIX or any(c in self.RATE_LIMIT_KEY_PREFIX for c in "{}"):
            raise ValueError("RATE_LIMIT_KEY_PREFIX must be non-empty and free of braces")
        # Parse once now so a malformed value fails at start-up, not on the first request.
        self.trusted_networks  # noqa: B018
        self.cors_policy  # noqa: B018
        self.route_policies  # noqa: B018
        parse_nodes(self.REDIS_NODES)
        return self

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.TRUSTED_PROXIES)

    @property
    def cors_policy(self) -> CorsPolicy | None:
        origins = parse_origins(self.CORS_ALLOWED_ORIGINS)
        if not origins:
            return None
        return CorsPolicy(origins, self.CORS_ALLOWED_METHODS, self.CORS_ALLOWED_HEADERS,
                          self.CORS_ALLOW_CREDENTIALS, self.CORS_MAX_AGE_SECONDS)

    @property
    def default_policy(self) -> RoutePolicy:
        return RoutePolicy("default", self.RATE_LIMIT_REQUESTS, self.RATE_LIMIT_WINDOW_SECONDS,
                           self.RATE_LIMIT_FAIL_MODE)

    @property
    def route_policies(self) -> dict[str, RoutePolicy]:
        """The built-in credential policies (unless switched off), overridden path by path
        by RATE_LIMIT_ROUTES: a configured path wins, `/path=default` removes one."""
        merged: dict[str, RoutePolicy | None] = {}
        if self.RATE_LIMIT_DEFAULT_ROUTES:
            merged.update(parse_route_policies(DEFAULT_ROUTE_POLICIES, self.RATE_LIMIT_FAIL_MODE))
        merged.update(parse_route_policies(self.RATE_LIMIT_ROUTES, self.RATE_LIMIT_FAIL_MODE))
        return {path: policy for path, policy in merged.items() if policy is not None}
