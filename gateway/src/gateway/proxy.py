"""Forwarding a request to an upstream service and mapping failures to problem statuses
(the HTTP client is gateway/upstream.py; docs/decisions/0005-gateway-upstream-http.md)."""

from typing import Any

from starlette.types import Receive

from gateway.headers import Header, response_headers
from gateway.upstream import Upstream, UpstreamFailure
from shared import tracing_enabled

_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
_FAILURES = {  # UpstreamFailure.reason -> (status, code, detail)
    "unreachable": (502, "upstream_unavailable", "The upstream is not reachable"),
    "timeout": (504, "upstream_timeout", "The upstream did not answer in time"),
    "closed": (502, "upstream_unavailable", "The upstream closed the connection"),
    "invalid": (502, "upstream_unavailable", "The upstream answered with an invalid response"),
}


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was being received."""


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class UpstreamError(Exception):
    """The upstream could not be used; `status` and `code` are what the client gets."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, counted as it arrives so a chunked body without
    Content-Length cannot exceed `limit` either."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Proxy:
    """The upstreams by name, and one forwarding call."""

    def __init__(self, upstreams: dict[str, Upstream]) -> None:
        self.upstreams = upstreams
        self._tracer: Any = None
        if tracing_enabled():
            from opentelemetry import trace

            self._tracer = trace.get_tracer("gateway.proxy")

    async def forward(self, upstream: str, method: str, target: bytes, headers: list[Header],
                      body: bytes | None) -> tuple[int, list[Header], bytes]:
        """(status, filtered response headers, body); raises UpstreamError."""
        if self._tracer is not None:
            return await self._traced(upstream, method, target, headers, body)
        return await self._forward(upstream, method, target, headers, body)

    async def _forward(self, upstream: str, method: str, target: bytes, headers: list[Header],
                       body: bytes | None) -> tuple[int, list[Header], bytes]:
        try:
            response = await self.upstreams[upstream].request(method, target, headers, body)
        except UpstreamFailure as failure:
            raise UpstreamError(*_FAILURES[failure.reason]) from None
        return response.status, response_headers(response.headers), response.body

    async def _traced(self, upstream: str, method: str, target: bytes, headers: list[Header],
                      body: bytes | None) -> tuple[int, list[Header], bytes]:
        """A CLIENT span per upstream call; its `traceparent` replaces the caller's (the
        gateway's server span is the caller's child, so the trace stays one)."""
        from opentelemetry import propagate, trace

        with self._tracer.start_as_current_span(
                f"{method} {upstream}", kind=trace.SpanKind.CLIENT,
                attributes={"http.request.method": method, "server.address": upstream,
                            "url.path": target.split(b"?", 1)[0].decode("latin-1")}) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            traced = [h for h in headers if h[0] not in _TRACE_HEADERS]
            traced += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in carrier.items()]
            status, response_headers_, payload = await self._forward(
                upstream, method, target, traced, body)
            span.set_attribute("http.response.status_code", status)
            return status, response_headers_, payload

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()
