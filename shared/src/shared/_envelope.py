"""The envelope every HTTP server here puts around a request: its ID, the client's IP,
the request metrics and one access-log line.

Plain functions, so the FastAPI services' middleware (shared.web) and the gateway's hot
path, which has no middleware, do the same thing in the same words."""

import time
from collections.abc import Sequence
from contextvars import Token
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from shared._client_ip import ClientIpResolver
from shared._context import request_id_var
from shared._correlation import accept_or_mint
from shared._logging import get_logger

# Route templates (`/users/{user_id}`), never raw paths: bounded label cardinality.
UNMATCHED_ROUTE = "<unmatched>"
_access_log = get_logger("access")


class RequestMetrics:
    """`<namespace>_requests_total` and `<namespace>_request_duration_seconds`, by method,
    route template and status."""

    def __init__(self, namespace: str, *, requests_help: str, latency_help: str,
                 buckets: Sequence[float], registry: CollectorRegistry = REGISTRY) -> None:
        labels = ["method", "route", "status"]
        self.requests = Counter(f"{namespace}_requests_total", requests_help, labels,
                                registry=registry)
        self.latency = Histogram(f"{namespace}_request_duration_seconds", latency_help,
                                 labels, buckets=buckets, registry=registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency under its route template."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)


@dataclass(slots=True)
class Envelope:
    """One request in flight: what its logs, errors and response carry."""

    request_id: str
    client_ip: str | None
    started: float
    context: Token[str | None]


def open_envelope(inbound_request_id: str | None, peer: str | None,
                  forwarded_for: str | None, client_ips: ClientIpResolver | None) -> Envelope:
    """Accept a safe inbound X-Request-ID or mint one, and make it the current request's;
    resolve the client's IP (the socket peer, or X-Forwarded-For through trusted proxies)."""
    request_id = accept_or_mint(inbound_request_id)
    client_ip = peer
    if peer is not None and client_ips is not None:
        client_ip = client_ips.resolve(peer, forwarded_for)
    return Envelope(request_id, client_ip, time.perf_counter(),
                    request_id_var.set(request_id))


def close_envelope(envelope: Envelope, metrics: RequestMetrics, *, method: str, route: str,
                   path: str, status: int, quiet: bool = False) -> None:
    """Observe the request, write its access line (unless `quiet`: probes, scrapes) and
    end its request ID's scope."""
    elapsed = time.perf_counter() - envelope.started
    metrics.observe(method, route, status, elapsed)
    if not quiet:
        _access_log.info("request", method=method, path=path[:1024], status=status,
                         client_ip=envelope.client_ip, duration_ms=round(elapsed * 1000, 2))
    request_id_var.reset(envelope.context)
