"""The request envelope (shared._envelope) as ASGI middleware for the FastAPI services."""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared._client_ip import ClientIpResolver
from shared._envelope import UNMATCHED_ROUTE, close_envelope, open_envelope
from shared._logging import get_logger
from shared._problems import PROBLEM_CONTENT_TYPE, problem_body
from shared.web._metrics import HTTP_METRICS

_error_log = get_logger("errors")


async def _internal_error(send: Send) -> None:
    body = problem_body(500, "internal_error", "Internal server error")
    await send({
        "type": "http.response.start",
        "status": 500,
        "headers": [(b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Accepts a safe inbound X-Request-ID or mints one, exposes it to logs and error
    bodies for the request's lifetime, echoes it on the response, and writes one access
    log line per request.

    The client's IP is the socket peer, or with `client_ips` the address X-Forwarded-For
    gives through trusted proxies; it is logged and left in `request.state.client_ip`."""

    def __init__(self, app: ASGIApp, *, quiet_paths: frozenset[str] = frozenset(),
                 client_ips: ClientIpResolver | None = None) -> None:
        self.app = app
        self.quiet_paths = quiet_paths  # e.g. health probes: no access log line
        self.client_ips = client_ips

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        inbound = forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-request-id" and inbound is None:
                inbound = value.decode("latin-1")
            elif name == b"x-forwarded-for" and forwarded_for is None:
                forwarded_for = value.decode("latin-1")
        client: Any = scope.get("client")
        envelope = open_envelope(inbound, client[0] if client else None, forwarded_for,
                                 self.client_ips)
        scope.setdefault("state", {})["client_ip"] = envelope.client_ip
        header = (b"x-request-id", envelope.request_id.encode())
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            # Answer here rather than in Starlette's outermost error middleware, so the
            # 500 still carries the request id and never a stack trace.
            _error_log.exception("unhandled_exception")
            if not response_started:
                await _internal_error(send_with_request_id)
        finally:
            # The router leaves the matched route in the scope: label by its template.
            close_envelope(envelope, HTTP_METRICS, method=scope["method"],
                           route=getattr(scope.get("route"), "path", UNMATCHED_ROUTE),
                           path=scope["path"], status=status,
                           quiet=scope["path"] in self.quiet_paths)
