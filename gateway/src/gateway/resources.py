"""The gateway's long-lived clients, opened in the lifespan, and what they report."""

from dataclasses import dataclass

from gateway.auth import Authenticator
from gateway.health import ReadinessProbe
from gateway.metrics import Snapshot
from gateway.proxy import Proxy
from gateway.ratelimit import RateLimiter
from shared import RemoteKeySet


@dataclass(slots=True)
class Resources:
    proxy: Proxy
    limiter: RateLimiter | None
    authenticator: Authenticator | None
    readiness: ReadinessProbe
    keys: RemoteKeySet | None = None

    def snapshot(self) -> Snapshot:
        """State for /metrics, read at scrape time."""
        state = Snapshot()
        if self.limiter is not None:
            state.breaker = self.limiter.breaker.state
            state.fallback_keys = len(self.limiter.fallback)
            state.redis_errors = dict(self.limiter.breaker.errors)
            state.redis_redirects = self.limiter.redirects
        cache = self.authenticator.verifier.cache if self.authenticator is not None else None
        if cache is not None:
            state.token_cache_entries = len(cache)
            state.token_cache_hits = cache.hits
            state.token_cache_misses = cache.misses
        if self.keys is not None:
            state.jwks_refreshes = self.keys.refresh_count
        return state
