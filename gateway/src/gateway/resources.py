"""The gateway's long-lived clients, opened in the lifespan, and what they report."""

from dataclasses import dataclass

from gateway.auth import Authenticator
from gateway.health import ReadinessProbe
from gateway.metrics import Snapshot
from gateway.proxy import Proxy
from gateway.ratelimit import RateLimiter
from shared import RemoteKeySet
from shared.redis import RevocationFeed


@dataclass(slots=True)
class Resources:
    proxy: Proxy
    limiter: RateLimiter | None
    authenticator: Authenticator | None
    readiness: ReadinessProbe
    keys: RemoteKeySet | None = None
    feed: RevocationFeed | None = None

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
        if self.feed is not None:
            state.revocation_feed = self.feed.state
            state.revocations_received = self.feed.received
            state.revocations_held = len(self.feed.revocations)
            state.revocation_feed_connected = self.feed.connected
            state.revocation_feed_lag = self.feed.lag_seconds if self.feed.caught_up else -1.0
            state.revocation_feed_reconnects = self.feed.reconnects
        return state
