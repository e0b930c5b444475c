"""Prometheus metrics: the HTTP metrics every service has, and the `/metrics` response.

Each service runs one uvicorn process (natively and per container), so the default
in-process registry counts everything; scale out with more processes/containers, each
scraped on its own, rather than `--workers` (which would need multiprocess mode)."""

from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from shared._envelope import RequestMetrics

# `*_created` timestamp series double every scrape for little use; Prometheus doesn't need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HTTP_METRICS = RequestMetrics("http", requests_help="HTTP requests handled",
                              latency_help="Time to handle an HTTP request",
                              buckets=LATENCY_BUCKETS)


def metrics_response() -> Response:
    """The Prometheus text exposition of this process's registry."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def metrics_endpoint(_: Request) -> Response:
    """Prometheus metrics of this process (bind or deploy privately)."""
    return metrics_response()
