"""Per-request context shared by logs and error bodies."""

from contextvars import ContextVar

# Set by RequestContextMiddleware for the duration of one request.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The correlation ID of the request being handled, if any."""
    return request_id_var.get()
