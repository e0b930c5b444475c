"""Assembles the auth service: settings -> app, long-lived clients in the lifespan."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from auth_service import __version__
from auth_service.bodylimit import BodySizeLimitMiddleware
from auth_service.config import Settings
from auth_service.deps import Resources
from auth_service.keys import KeyStore, ensure_keys
from auth_service.refresh import RefreshStore
from auth_service.routes import auth_router, jwks_router
from auth_service.state import StateStore
from auth_service.throttle import LoginThrottle
from auth_service.tokens import AccessTokenIssuer
from auth_service.users_client import UsersClient
from shared import ClientIpResolver, JwtVerifier, parse_networks
from shared.passwords import PasswordHasher
from shared.redis import create_cluster_client
from shared.web import Readiness, build_service_app


def load_key_store(settings: Settings) -> KeyStore:
    if settings.generate_missing_keys:
        ensure_keys(settings.keys_dir, settings.JWT_SIGNING_ALG)
    return KeyStore(settings.keys_dir)  # fails fast when production keys are missing


def build_resources(
    settings: Settings, users_transport: httpx.AsyncBaseTransport | None = None
) -> Resources:
    keys = load_key_store(settings)
    # With tracing on, the client makes a span per Redis command itself.
    redis = create_cluster_client(settings.REDIS_NODES,
                                  timeout=settings.REDIS_SOCKET_TIMEOUT_MS / 1000)
    store = StateStore(redis, budget=settings.REDIS_CALL_BUDGET_SECONDS)
    return Resources(
        settings=settings,
        redis=store,
        users=UsersClient(
            settings.USER_SERVICE_URL, settings.INTERNAL_API_TOKEN,
            timeout=settings.USER_SERVICE_TIMEOUT_SECONDS,
            retry_after=settings.UPSTREAM_RETRY_AFTER_SECONDS, transport=users_transport,
        ),
        keys=keys,
        hasher=PasswordHasher(settings.argon2_params, max_concurrency=settings.HASH_CONCURRENCY),
        issuer=AccessTokenIssuer(
            keys, issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE,
            ttl_seconds=settings.ACCESS_TOKEN_TTL_SECONDS,
        ),
        # Logout verifies bearer tokens against our own keys, in process.
        verifier=JwtVerifier.from_settings(keys, settings),
        refresh=RefreshStore(
            store, ttl_seconds=settings.REFRESH_TOKEN_TTL_SECONDS,
            grace_seconds=settings.REFRESH_REUSE_GRACE_SECONDS,
        ),
        throttle=LoginThrottle(
            store, account_free=settings.THROTTLE_ACCOUNT_FREE_FAILURES,
            ip_free=settings.THROTTLE_IP_FREE_FAILURES,
            base_delay=settings.THROTTLE_BASE_DELAY_SECONDS,
            max_delay=settings.THROTTLE_MAX_DELAY_SECONDS,
            window=settings.THROTTLE_WINDOW_SECONDS,
        ),
    )


async def _watch_keys(resources: Resources) -> None:
    # Picks up `auth-service rotate-keys` without a restart (the new key is staged, so
    # every process has it before it signs).
    while True:
        await asyncio.sleep(resources.settings.JWT_KEYS_RELOAD_SECONDS)
        resources.keys.reload_if_changed()


def create_app(
    settings: Settings | None = None, *, users_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The auth-service ASGI app; `users_transport` lets tests route to an in-process user
    service."""
    settings = settings or Settings()
    readiness = Readiness(timeout=2.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = build_resources(settings, users_transport)
        app.state.resources = resources
        watcher = asyncio.create_task(_watch_keys(resources))
        # Connect now if Redis is up; if not, the first request retries (and answers 503).
        with contextlib.suppress(Exception):
            await resources.redis.ensure_ready()
        try:
            # Compute the dummy hash now so the first unknown-email login costs no more.
            await resources.hasher.verify_dummy("warm-up")
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await resources.users.aclose()
            await resources.redis.aclose()
            resources.hasher.close()

    async def redis_ready() -> None:
        await app.state.resources.redis.ping()  # reads the slot map first if needed

    async def users_ready() -> None:
        await app.state.resources.users.live()

    readiness.add("redis", redis_ready)
    readiness.add("user_service", users_ready)
    app = build_service_app(
        title="auth-service", version=__version__, readiness=readiness, lifespan=lifespan,
        description="Register, login, refresh rotation, logout and JWKS.",
        # Login throttling and the access log both see the client behind the gateway.
        client_ips=ClientIpResolver(parse_networks(settings.TRUSTED_PROXIES)),
    )
    # Appended, not add_middleware(): innermost, i.e. inside the request-context middleware,
    # so even a 413 carries the request_id.
    app.user_middleware.append(
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES))
    app.include_router(auth_router)
    app.include_router(jwks_router)
    return app
