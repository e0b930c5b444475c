"""The common shape of a FastAPI service: middleware, problem handlers, health routes."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from shared._client_ip import ClientIpResolver
from shared._tracing import configure_tracing
from shared.web._errors import install_problem_handlers
from shared.web._health import Readiness, health_router
from shared.web._metrics import metrics_endpoint
from shared.web._middleware import RequestContextMiddleware

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_service_app(
    *,
    title: str,
    version: str,
    readiness: Readiness,
    lifespan: Lifespan | None = None,
    description: str = "",
    client_ips: ClientIpResolver | None = None,
) -> FastAPI:
    """A FastAPI app with correlation IDs, access logs, problem+json errors, health routes,
    Prometheus `/metrics`, and OpenTelemetry server spans when tracing is on. With
    `client_ips`, the client IP (logs, `request.state.client_ip`) is judged from
    X-Forwarded-For through trusted proxies; else it is the socket peer."""
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health_router(readiness))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    quiet = frozenset({"/health/live", "/health/ready", "/metrics"})
    app.add_middleware(RequestContextMiddleware, quiet_paths=quiet, client_ips=client_ips)
    if configure_tracing(title):
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        # Outermost, so the span is active while our middleware logs (trace_id in logs).
        app.add_middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])
    return app


