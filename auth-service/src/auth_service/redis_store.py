"""Calls into the Redis Cluster with a time budget: Redis trouble becomes StoreUnavailable
(a 503 at the routes), never a 500."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from auth_service.errors import StoreUnavailable
from shared import get_logger
from shared.redis import (
    Arg,
    ClusterCommands,
    ClusterUnavailable,
    ProtocolError,
    ReplyError,
    Script,
)

T = TypeVar("T")
U = TypeVar("U")
_log = get_logger("redis_store")
_UNAVAILABLE = (ClusterUnavailable, ProtocolError, OSError, TimeoutError)


class ScriptCall:
    """A Lua script bound to the store's client: `await call(keys=[...], args=[...])`."""

    def __init__(self, redis: ClusterCommands, source: str) -> None:
        self.redis = redis
        self.script = Script(source)

    def __call__(self, keys: Sequence[str], args: Sequence[Arg] = ()) -> Awaitable[Any]:
        # Any: the reply's shape is the script's, checked by the code that reads it.
        return self.redis.evalsha(self.script, keys, args)


class RedisStore:
    """The Redis Cluster client plus the rules every call follows."""

    def __init__(self, redis: ClusterCommands, *, budget: float) -> None:
        self.redis = redis
        self.budget = budget

    def register_script(self, source: str) -> ScriptCall:
        return ScriptCall(self.redis, source)

    async def ensure_ready(self) -> None:
        """Read the cluster's slot map (also done on demand by the first command)."""
        await self.redis.initialize()

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run one Redis call; a failover, a frozen node or a timeout becomes
        StoreUnavailable. An error reply about the command itself (a script bug) is raised
        as it is (a 500)."""
        try:
            async with asyncio.timeout(self.budget):
                return await call()
        except ReplyError as exc:
            if not exc.transient:
                raise
            _log.warning("state_store_error", operation=what, error=exc.kind)
        except _UNAVAILABLE as exc:
            _log.warning("state_store_error", operation=what, error=type(exc).__name__)
        raise StoreUnavailable(what) from None

    async def execute(self, key: str, *command: Arg, what: str) -> object:
        """One single-slot command (e.g. `DEL key`) under the same rules as `run`."""
        return await self.run(lambda: self.redis.execute(key, *command), what=what)

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
