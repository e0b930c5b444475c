"""The core every service and the gateway use: settings, logging, request IDs and the
request envelope, problem+json bodies, the client's IP, bearer tokens and JWT
verification, retries, tracing.

The heavier layers are opt-in subpackages: `shared.web` (FastAPI), `shared.server`
(uvicorn), `shared.redis` (the cluster client), `shared.passwords` (argon2 and the
password policy), `shared.emails` (email-validator). Modules starting with `_` are
private; import the names below from `shared` itself."""

from shared._bearer import bearer_challenge, bearer_token
from shared._client_ip import ClientIpResolver, Network, parse_networks
from shared._context import current_request_id, request_id_var
from shared._correlation import accept_or_mint, is_safe_request_id, new_request_id
from shared._envelope import (
    UNMATCHED_ROUTE,
    Envelope,
    RequestMetrics,
    close_envelope,
    open_envelope,
)
from shared._jwt import (
    JwtVerifier,
    KeySet,
    Principal,
    RemoteKeySet,
    RevocationCheck,
    RevocationUnavailable,
    StaticKeySet,
    TokenError,
    VerifiedTokens,
)
from shared._logging import LineWriter, configure_logging, flush_logs, get_logger
from shared._metrics_listener import metrics_listener
from shared._problems import PROBLEM_CONTENT_TYPE, ProblemError, default_code, problem_body
from shared._retry import retry_with_backoff
from shared._revocation_settings import RevocationSettings
from shared._settings import JwtSettings, RedisSettings, ServiceSettings
from shared._text import reject_control_characters
from shared._tracing import (
    configure_tracing,
    current_trace_id,
    instrument_httpx_client,
    tracing_enabled,
)
from shared._transport import CombiningTransport

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "UNMATCHED_ROUTE",
    "ClientIpResolver",
    "CombiningTransport",
    "Envelope",
    "JwtSettings",
    "JwtVerifier",
    "KeySet",
    "LineWriter",
    "Network",
    "Principal",
    "ProblemError",
    "RedisSettings",
    "RemoteKeySet",
    "RequestMetrics",
    "RevocationCheck",
    "RevocationSettings",
    "RevocationUnavailable",
    "ServiceSettings",
    "StaticKeySet",
    "TokenError",
    "VerifiedTokens",
    "accept_or_mint",
    "bearer_challenge",
    "bearer_token",
    "close_envelope",
    "configure_logging",
    "configure_tracing",
    "current_request_id",
    "current_trace_id",
    "default_code",
    "flush_logs",
    "get_logger",
    "instrument_httpx_client",
    "is_safe_request_id",
    "metrics_listener",
    "new_request_id",
    "open_envelope",
    "parse_networks",
    "problem_body",
    "reject_control_characters",
    "request_id_var",
    "retry_with_backoff",
    "tracing_enabled",
]
