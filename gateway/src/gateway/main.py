"""Assembly: settings -> ASGI app; long-lived clients opened and closed in the lifespan."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp

from gateway.app import Gateway
from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.fallback import CircuitBreaker, FallbackLimiter
from gateway.health import ReadinessProbe
from gateway.proxy import Proxy
from gateway.ratelimit import RateLimiter
from gateway.resources import Resources
from gateway.routing import Target
from gateway.upstream import Upstream
from shared import (
    ClientIpResolver,
    JwtVerifier,
    RemoteKeySet,
    configure_tracing,
    get_logger,
    retry_with_backoff,
)
from shared.redis import RevocationFeed, cluster_client_from_settings, revocation_feed_from_settings
from shared.server import serve

_log = get_logger("gateway")


@contextlib.asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Upstream pool, Redis Cluster client and JWKS keys. Nothing here blocks start-up
    on a dependency: Redis and the JWKS are (re)tried in the background."""
    upstreams = {
        name: Upstream(url, pool_size=settings.UPSTREAM_POOL_SIZE,
                       keepalive=settings.UPSTREAM_KEEPALIVE_SECONDS,
                       connect_timeout=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
                       read_timeout=settings.UPSTREAM_READ_TIMEOUT_SECONDS)
        for name, url in ((Target.AUTH.value, settings.AUTH_SERVICE_URL),
                          (Target.USERS.value, settings.USER_SERVICE_URL))
    }
    proxy = Proxy(upstreams)
    background: list[asyncio.Task[object]] = []
    limiter = None
    redis = None
    if settings.RATE_LIMIT_ENABLED:
        redis = cluster_client_from_settings(settings)
        breaker = CircuitBreaker(settings.CIRCUIT_FAILURE_THRESHOLD,
                                 settings.CIRCUIT_OPEN_SECONDS)
        limiter = RateLimiter(redis, FallbackLimiter(settings.FALLBACK_MAX_KEYS), breaker,
                              settings.REDIS_BUDGET_MS / 1000)
        warm_up = asyncio.create_task(retry_with_backoff(limiter.warm_up, what="redis-cluster"))
        background.append(warm_up)
        # Give a healthy cluster a moment so the first burst is decided by Redis; never
        # block start-up on a cluster that is down (the fallback limiter covers that).
        await asyncio.wait([warm_up], timeout=settings.REDIS_STARTUP_WAIT_SECONDS)
    keys = None
    authenticator = None
    feed: RevocationFeed | None = None
    if settings.JWT_ENABLED:
        keys = RemoteKeySet(settings.JWKS_URL, settings.jwt_algorithms,
                            min_refetch_interval=settings.JWKS_MIN_REFETCH_SECONDS)
        verifier = JwtVerifier.from_settings(keys, settings)
        authenticator = Authenticator(verifier)
        background.append(asyncio.create_task(keys.keep_fresh(
            settings.JWKS_REFRESH_MIN_SECONDS, settings.JWKS_REFRESH_MAX_SECONDS)))
        if settings.REVOCATION_FEED_ENABLED:
            # Its own connection: the limiter's pipelined ones never carry a blocking read.
            feed = revocation_feed_from_settings(settings, settings,
                                                 grace_seconds=settings.JWT_LEEWAY_SECONDS)
            verifier.revocations = feed
            background.append(asyncio.create_task(feed.run()))
            await _caught_up(feed, settings.REDIS_STARTUP_WAIT_SECONDS)
        else:
            _log.warning("revocation_feed_disabled", reason="revoked tokens work until exp")
    else:
        _log.warning("jwt_disabled", reason="benchmark attribution only")
    readiness = ReadinessProbe(
        upstreams, redis, limiter.breaker if limiter else None, settings.READINESS_CACHE_SECONDS,
        keys=keys, feed=feed,
    )
    try:
        yield Resources(proxy, limiter, authenticator, readiness, keys, feed)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        proxy.close()
        if redis is not None:
            await redis.aclose()
        if keys is not None:
            await keys.aclose()


async def _caught_up(feed: RevocationFeed, within: float) -> None:
    """Give a healthy cluster a moment to hand over the log before the first request
    (until then protected routes answer 503); never block start-up on a cluster that is
    down."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(feed.first_caught_up.wait(), within)


def create_app(settings: Settings | None = None) -> Gateway:
    """The gateway ASGI application (clients are opened by its lifespan)."""
    return Gateway(settings or Settings(), open_resources)


def create_served_app(settings: Settings) -> ASGIApp:
    """What `run()` serves: the gateway, inside an OpenTelemetry server span when the
    OTEL_* environment turns tracing on (nothing is added to the hot path otherwise)."""
    app = create_app(settings)
    if not configure_tracing(settings.SERVICE_NAME):
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(app, exclude_spans=["receive", "send"])


def run() -> None:
    """Console entry point `gateway`."""
    # Upgrades are never proxied (Upgrade is stripped as hop-by-hop), so ws="none" from
    # shared.server holds. A load balancer in TRUSTED_PROXIES carries many clients on one
    # address: the per-address connection cap does not apply to it.
    settings = Settings()
    serve(settings, create_served_app,
          exempt_peer=ClientIpResolver(settings.trusted_networks).peer_trusted)
