"""The library every service uses: settings, logging, correlation IDs, problem+json,
JWT verification, health checks, Redis and password hashing."""

from shared.app import build_service_app
from shared.client_ip import ClientIpResolver, parse_networks
from shared.context import current_request_id
from shared.correlation import accept_or_mint, is_safe_request_id, new_request_id
from shared.errors import ProblemError, install_problem_handlers, problem_body, problem_response
from shared.health import Readiness, health_router
from shared.jwt import JwtVerifier, Principal, RemoteKeySet, StaticKeySet, TokenError
from shared.logging import configure_logging, get_logger
from shared.middleware import RequestContextMiddleware
from shared.passwords import Argon2Params, PasswordCheck, PasswordHasher
from shared.redis import create_cluster_client, parse_nodes
from shared.retry import retry_with_backoff
from shared.settings import JwtSettings, RedisSettings, ServiceSettings

__all__ = [
    "Argon2Params",
    "ClientIpResolver",
    "JwtSettings",
    "JwtVerifier",
    "PasswordCheck",
    "PasswordHasher",
    "Principal",
    "ProblemError",
    "Readiness",
    "RedisSettings",
    "RemoteKeySet",
    "RequestContextMiddleware",
    "ServiceSettings",
    "StaticKeySet",
    "TokenError",
    "accept_or_mint",
    "build_service_app",
    "configure_logging",
    "create_cluster_client",
    "current_request_id",
    "get_logger",
    "health_router",
    "install_problem_handlers",
    "is_safe_request_id",
    "new_request_id",
    "parse_networks",
    "parse_nodes",
    "problem_body",
    "problem_response",
    "retry_with_backoff",
]
