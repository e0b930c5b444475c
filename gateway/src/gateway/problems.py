"""Raw-ASGI responses: every response the gateway makes itself is problem+json."""

from collections.abc import Sequence
from typing import Any

from starlette.types import Send

from gateway.headers import Header
from shared import PROBLEM_CONTENT_TYPE, problem_body

_PROBLEM_HEADERS: tuple[Header, ...] = (
    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
    (b"cache-control", b"no-store"),
)


async def send_response(
    send: Send, status: int, headers: list[Header], body: bytes, *, head: bool = False
) -> int:
    """Send a complete response; `headers` must not carry content-length yet."""
    if not head and status >= 200 and status not in (204, 304):
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
    return status


async def send_problem(
    send: Send,
    status: int,
    code: str,
    detail: str,
    *,
    request_id: str,
    headers: Sequence[Header] = (),
    extra: dict[str, Any] | None = None,
) -> int:
    """A problem+json response carrying the request's correlation ID and `headers`."""
    body = problem_body(status, code, detail, request_id=request_id, extra=extra)
    all_headers = [*_PROBLEM_HEADERS, *headers]
    return await send_response(send, status, all_headers, body)
