"""Prometheus metrics: the HTTP metrics every service has, and their exposition (served
by shared.metrics_listener on the private metrics port).

Each service runs one uvicorn process (natively and per container), so the default
in-process registry counts everything; scale out with more processes/containers, each
scraped on its own, rather than `--workers` (which would need multiprocess mode)."""

from prometheus_client import disable_created_metrics, generate_latest

from shared._envelope import RequestMetrics

# `*_created` timestamp series double every scrape for little use; Prometheus doesn't need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HTTP_METRICS = RequestMetrics("http", requests_help="HTTP requests handled",
                              latency_help="Time to handle an HTTP request",
                              buckets=LATENCY_BUCKETS)


def render_metrics() -> bytes:
    """The Prometheus text exposition of this process's registry."""
    return generate_latest()
