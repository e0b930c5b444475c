"""Assembles the user service: settings, lifespan-owned clients, routers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from shared import (
    JwtVerifier,
    KeySet,
    RemoteKeySet,
    RevocationUnavailable,
    get_logger,
    retry_with_backoff,
)
from shared.passwords import PasswordHasher
from shared.redis import RevocationFeed, cluster_client_from_settings, revocation_feed_from_settings
from shared.web import Readiness, build_service_app
from user_service import db
from user_service.config import Settings
from user_service.deps import Resources
from user_service.revocations import RevocationPublisher
from user_service.routes import admin, internal, me

_log = get_logger("user_service")
_FEED_STARTUP_WAIT = 3.0  # seconds


async def _feed_current(feed: RevocationFeed) -> None:
    """Ready only while bearer routes can be served: the feed has read the log and has
    not been out of touch longer than REVOCATION_MAX_STALENESS_SECONDS."""
    if feed.state != "current":
        raise RevocationUnavailable(f"revocation feed {feed.state}")


def create_app(settings: Settings | None = None, *, key_set: KeySet | None = None) -> FastAPI:
    """The ASGI app. `key_set` replaces the remote JWKS (tests sign their own tokens)."""
    settings = settings or Settings()
    if settings.ENVIRONMENT == "production" and not settings.mfa_key_ring().configured:
        # Accounts with MFA could not sign in: fail at start, not at their first login.
        raise SystemExit("MFA_ENCRYPTION_KEYS (or MFA_ENCRYPTION_KEYS_FILE) must be set "
                         "in production")
    readiness = Readiness(timeout=2.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings)
        db.observe(engine)
        remote = None
        keys = key_set
        if keys is None:
            remote = keys = RemoteKeySet(settings.JWKS_URL, settings.jwt_algorithms)
        verifier = JwtVerifier.from_settings(keys, settings)
        hasher = PasswordHasher()  # only verifies (email change); auth-service hashes
        # Our own cluster client (publishing revocations) and revocation feed (verifying).
        redis = cluster_client_from_settings(settings)
        publisher = RevocationPublisher(redis,
                                        retention_seconds=settings.REVOCATION_RETENTION_SECONDS,
                                        replica_ack_ms=settings.REVOCATION_REPLICA_ACK_MS)
        app.state.resources = Resources(engine, db.reader(engine),
                                        db.create_sessionmaker(engine), verifier, hasher,
                                        publisher, settings.mfa_key_ring())
        if not app.state.resources.mfa_keys.configured:
            _log.warning("mfa_keys_missing", reason="MFA routes answer 503 mfa_unavailable")
        readiness.add("postgres", lambda: db.ping(engine))
        # Start serving at once; PostgreSQL, Redis and the JWKS may come up after us.
        background = [asyncio.create_task(db.warm_up(engine)),
                      asyncio.create_task(retry_with_backoff(redis.initialize,
                                                             what="redis-cluster"))]
        if settings.REVOCATION_FEED_ENABLED:
            feed = revocation_feed_from_settings(settings, settings,
                                                 grace_seconds=settings.JWT_LEEWAY_SECONDS)
            verifier.revocations = feed
            background.append(asyncio.create_task(feed.run()))
            readiness.add("revocations", lambda: _feed_current(feed))
            # A healthy cluster hands the log over in milliseconds; until then bearer
            # routes answer 503. Never block start-up on a cluster that is down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.first_caught_up.wait(), _FEED_STARTUP_WAIT)
        else:
            _log.warning("revocation_feed_disabled", reason="revoked tokens work until exp")
        if remote is not None:
            background.append(asyncio.create_task(remote.keep_fresh(
                settings.JWKS_REFRESH_MIN_SECONDS, settings.JWKS_REFRESH_MAX_SECONDS)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await engine.dispose()
            await redis.aclose()
            if remote is not None:
                await remote.aclose()
            hasher.close()

    app = build_service_app(
        title="user-service",
        version="0.1.0",
        description="Owner of the users table: profile and administration API.",
        readiness=readiness,
        lifespan=lifespan,
        metrics_host=settings.METRICS_HOST, metrics_port=settings.METRICS_PORT,
    )
    app.state.settings = settings
    db.install_database_error_handler(app)
    # `me` first: /users/me must not be captured by /users/{user_id}.
    app.include_router(me.router)
    app.include_router(admin.router)
    app.include_router(internal.router)
    return app
