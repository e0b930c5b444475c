"""The gateway's Prometheus metrics, in a registry of its own.

One registry per app instance keeps several gateways in one process (tests) apart; the
hot path does one labelled increment or observation per metric, and the state that only
matters at scrape time (breaker, caches, JWKS refreshes) is read then, not per request."""

import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.fallback import BreakerState
from shared import RequestMetrics

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(slots=True)
class Snapshot:
    """What the gateway's components know, read at scrape time."""

    breaker: BreakerState | None = None  # None: rate limiting is off
    fallback_keys: int = 0
    redis_errors: dict[str, int] = field(default_factory=dict)
    redis_redirects: int = 0
    token_cache_entries: int = 0
    token_cache_hits: int = 0
    token_cache_misses: int = 0
    jwks_refreshes: int = 0
    revocation_feed: str | None = None  # its state; None: no feed
    revocations_received: int = 0
    revocations_held: int = 0
    revocation_feed_connected: bool = False
    revocation_feed_lag: float = -1.0  # seconds since the log last answered; -1: never
    revocation_feed_reconnects: int = 0


class ScrapeState(Collector):
    """Gauges and counters read from the gateway's components when scraped."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        state = self._read()
        degraded = state.breaker is not None and state.breaker is not BreakerState.CLOSED
        yield GaugeMetricFamily("gateway_ratelimit_fallback_active",
                                "1 while the in-process limiter decides (Redis unusable)",
                                value=float(degraded))
        yield GaugeMetricFamily("gateway_ratelimit_fallback_keys",
                                "Client keys held by the in-process limiter",
                                value=state.fallback_keys)
        breaker = GaugeMetricFamily("gateway_redis_circuit_state",
                                    "Circuit breaker in front of Redis (1 = current state)",
                                    labels=["state"])
        for candidate in BreakerState:
            breaker.add_metric([candidate.value], float(candidate is state.breaker))
        yield breaker
        errors = CounterMetricFamily("gateway_redis_errors", "Redis calls that failed or "
                                     "exceeded the budget, by error", labels=["error"])
        for error, count in sorted(state.redis_errors.items()):
            errors.add_metric([error], count)
        yield errors
        yield CounterMetricFamily("gateway_redis_redirects", "MOVED and ASK redirections "
                                  "followed (slots moving or a failover)",
                                  value=state.redis_redirects)
        yield GaugeMetricFamily("gateway_token_cache_entries", "Verified access tokens cached",
                                value=state.token_cache_entries)
        lookups = CounterMetricFamily("gateway_token_cache_lookups",
                                      "Verified-token cache lookups", labels=["result"])
        lookups.add_metric(["hit"], state.token_cache_hits)
        lookups.add_metric(["miss"], state.token_cache_misses)
        yield lookups
        yield CounterMetricFamily("gateway_jwks_refreshes", "JWKS fetches from the auth service",
                                  value=state.jwks_refreshes)
        if state.revocation_feed is not None:
            yield from _revocation_metrics(state)


def _revocation_metrics(state: Snapshot) -> Iterator[Metric]:
    yield CounterMetricFamily("gateway_revocations_received", "Revocation-log entries read",
                              value=state.revocations_received)
    yield GaugeMetricFamily("gateway_revocations_held",
                            "Revoked sessions and users remembered until their tokens expire",
                            value=state.revocations_held)
    yield GaugeMetricFamily("gateway_revocation_feed_connected",
                            "1 while the revocation feed has a connection to the log's master",
                            value=float(state.revocation_feed_connected))
    yield GaugeMetricFamily("gateway_revocation_feed_lag_seconds",
                            "Seconds since the revocation log last answered (-1: never); "
                            "over REVOCATION_MAX_STALENESS_SECONDS protected routes answer 503",
                            value=state.revocation_feed_lag)
    yield CounterMetricFamily("gateway_revocation_feed_reconnects",
                              "Times the revocation feed lost the log and reconnected",
                              value=state.revocation_feed_reconnects)
    feed = GaugeMetricFamily("gateway_revocation_feed_state",
                             "Revocation feed state (1 = current state)", labels=["state"])
    for candidate in ("starting", "current", "stale"):
        feed.add_metric([candidate], float(candidate == state.revocation_feed))
    yield feed


class Metrics:
    """Everything the gateway counts; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http = RequestMetrics(
            "gateway", requests_help="Requests answered by the gateway",
            latency_help="Time from request to response", buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.ratelimit = Counter(
            "gateway_ratelimit_decisions_total", "Rate-limit decisions",
            ["source", "result"],  # source: redis | fallback | unavailable
            registry=self.registry)
        self.upstream_latency = Histogram(
            "gateway_upstream_duration_seconds", "Upstream call time, by upstream",
            ["upstream"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_errors = Counter(
            "gateway_upstream_errors_total", "Failed upstream calls by problem code",
            ["upstream", "code"], registry=self.registry)

    def watch(self, read: Callable[[], Snapshot]) -> None:
        """Read `read()` on every scrape (called once the lifespan has the components)."""
        self.registry.register(ScrapeState(read))

    def decisions(self) -> collections.Counter[tuple[str, str]]:
        """Rate-limit decisions so far, (source, result) -> count (tests, diagnostics)."""
        counts: collections.Counter[tuple[str, str]] = collections.Counter()
        for family in self.ratelimit.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    key = (sample.labels["source"], sample.labels["result"])
                    counts[key] = int(sample.value)
        return counts

    def render(self) -> bytes:
        return generate_latest(self.registry)
