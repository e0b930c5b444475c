"""Calls into the Redis Cluster with a time budget: Redis trouble becomes a 503, never a 500."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from shared import ProblemError, get_logger
from shared.redis import (
    Arg,
    ClusterUnavailable,
    ProtocolError,
    RedisClusterClient,
    ReplyError,
    Script,
)

T = TypeVar("T")
U = TypeVar("U")
_log = get_logger("state")
_UNAVAILABLE = (ClusterUnavailable, ProtocolError, OSError, TimeoutError)


def state_store_unavailable() -> ProblemError:
    return ProblemError(
        503, "state_store_unavailable", "The token store is unavailable; retry shortly",
        headers={"Retry-After": "2"},
    )


class ScriptCall:
    """A Lua script bound to the store's client: `await call(keys=[...], args=[...])`."""

    def __init__(self, redis: RedisClusterClient, source: str) -> None:
        self.redis = redis
        self.script = Script(source)

    def __call__(self, keys: Sequence[str], args: Sequence[Arg] = ()) -> Awaitable[Any]:
        # Any: the reply's shape is the script's, checked by the code that reads it.
        return self.redis.evalsha(self.script, keys, args)


class StateStore:
    """The Redis Cluster client plus the rules every call follows."""

    def __init__(self, redis: RedisClusterClient, *, budget: float) -> None:
        self.redis = redis
        self.budget = budget

    def register_script(self, source: str) -> ScriptCall:
        return ScriptCall(self.redis, source)

    async def ensure_ready(self) -> None:
        """Read the cluster's slot map (also done on demand by the first command)."""
        await self.redis.initialize()

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run one Redis call; a failover, a frozen node or a timeout becomes 503. An error
        reply that is about the command itself (a script bug) stays an error (500)."""
        try:
            async with asyncio.timeout(self.budget):
                return await call()
        except ReplyError as exc:
            if not exc.transient:
                raise
            _log.warning("state_store_error", operation=what, error=exc.kind)
        except _UNAVAILABLE as exc:
            _log.warning("state_store_error", operation=what, error=type(exc).__name__)
        raise state_store_unavailable() from None

    async def ping(self) -> None:
        async with asyncio.timeout(self.budget):
            await self.redis.on_masters(b"PING")

    async def aclose(self) -> None:
        await self.redis.aclose()


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Two calls to different slots sent concurrently (one round trip of latency); the first
    error is raised once both are done, so no failure is left unretrieved."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for result in (a, b):
        if isinstance(result, BaseException):
            raise result
    return a, b  # type: ignore[return-value]
