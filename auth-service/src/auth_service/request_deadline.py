"""How long a request may wait for Redis, counted from its arrival.

A login makes several Redis calls; across a master failover each of them could wait for the
slot's new master. The wait is budgeted per request, not per call, so a request never takes
longer than the budget in total and the gateway (whose upstream read timeout is longer) gets
an answer instead of timing out with a 504."""

import asyncio
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

_deadline: ContextVar[float | None] = ContextVar("redis_wait_deadline", default=None)


def request_deadline() -> float | None:
    """The current request's deadline on the loop's clock; None outside a request."""
    return _deadline.get()


class RequestDeadlineMiddleware:
    """Sets the deadline for everything the request's handler awaits."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _deadline.set(asyncio.get_running_loop().time() + self.seconds)
        try:
            await self.app(scope, receive, send)
        finally:
            _deadline.reset(token)
