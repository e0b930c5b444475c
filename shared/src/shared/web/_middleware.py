"""Correlation-ID and access-log ASGI middleware."""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.client_ip import ClientIpResolver
from shared.context import request_id_var
from shared.correlation import accept_or_mint
from shared.errors import PROBLEM_CONTENT_TYPE, problem_body
from shared.logging import get_logger
from shared.metrics import UNMATCHED_ROUTE, observe_request

_access_log = get_logger("access")
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
        request_id = accept_or_mint(inbound)
        client: Any = scope.get("client")
        client_ip = client[0] if client else None
        if client_ip is not None and self.client_ips is not None:
            client_ip = self.client_ips.resolve(client_ip, forwarded_for)
        scope.setdefault("state", {})["client_ip"] = client_ip
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500
        response_started = False
        started = time.perf_counter()

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
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope: label by its template.
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            observe_request(scope["method"], route, status, elapsed)
            if scope["path"] not in self.quiet_paths:
                _access_log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client_ip=client_ip,
                )
            request_id_var.reset(token)
