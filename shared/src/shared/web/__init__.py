"""The FastAPI layer (opt-in): the common app shape, the request envelope as middleware,
problem+json handlers, health routes, the metrics exposition, and the bearer-principal dependency.
The gateway is plain ASGI and never imports it."""

from shared.web._app import build_service_app
from shared.web._auth import bearer_principal, unauthorized
from shared.web._errors import install_problem_handlers, problem_response
from shared.web._health import Readiness, health_router
from shared.web._metrics import HTTP_METRICS, render_metrics
from shared.web._middleware import RequestContextMiddleware

__all__ = [
    "HTTP_METRICS",
    "Readiness",
    "RequestContextMiddleware",
    "bearer_principal",
    "build_service_app",
    "health_router",
    "install_problem_handlers",
    "problem_response",
    "render_metrics",
    "unauthorized",
]
