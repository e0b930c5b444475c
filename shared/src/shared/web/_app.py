"""The common shape of a FastAPI service: middleware, problem handlers, health routes."""

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from shared._client_ip import ClientIpResolver
from shared._metrics_listener import metrics_listener
from shared._tracing import configure_tracing
from shared.web._errors import install_problem_handlers
from shared.web._health import Readiness, health_router
from shared.web._metrics import render_metrics
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
    metrics_host: str = "127.0.0.1",
    metrics_port: int = 0,
) -> FastAPI:
    """A FastAPI app with correlation IDs, access logs, problem+json errors, health routes,
    Prometheus `/metrics` on a private listener (metrics_host:metrics_port, open while the
    lifespan runs; port 0: none; never on the public app, where `/metrics` is a 404), and
    OpenTelemetry server spans when tracing is on. With `client_ips`, the client IP (logs,
    `request.state.client_ip`) is judged from X-Forwarded-For through trusted proxies; else
    it is the socket peer."""

    @contextlib.asynccontextmanager
    async def lifespan_with_metrics(app: FastAPI) -> AsyncIterator[None]:
        async with metrics_listener(metrics_host, metrics_port, render_metrics):
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan_with_metrics,
    )
    install_problem_handlers(app)
    app.include_router(health_router(readiness))
    quiet = frozenset({"/health/live", "/health/ready"})
    app.add_middleware(RequestContextMiddleware, quiet_paths=quiet, client_ips=client_ips)
    if configure_tracing(title):
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        # Outermost, so the span is active while our middleware logs (trace_id in logs).
        app.add_middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])
    return app


