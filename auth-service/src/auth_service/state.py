"""Calls into the Redis Cluster with a time budget: Redis trouble becomes a 503, never a 500."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from shared import ProblemError, get_logger

T = TypeVar("T")
U = TypeVar("U")
_log = get_logger("state")
_REDIS_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)


def state_store_unavailable() -> ProblemError:
    return ProblemError(
        503, "state_store_unavailable", "The token store is unavailable; retry shortly",
        headers={"Retry-After": "2"},
    )


class StateStore:
    """The Redis Cluster client plus the rules every call follows."""

    def __init__(self, redis: RedisCluster, *, budget: float) -> None:
        self.redis = redis
        self.budget = budget
        self._ready = False
        self._init_lock = asyncio.Lock()

    async def ensure_ready(self) -> None:
        # redis-py's asyncio RedisCluster initialises lazily, and concurrent first commands
        # on a fresh client race each other (ConnectionError, AttributeError on a half-set-up
        # connection): initialise once, behind a lock.
        if self._ready:
            return
        async with self._init_lock:
            if not self._ready:
                await self.redis.initialize()
                self._ready = True

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run one Redis call; a failover, a frozen node or a timeout becomes 503."""
        try:
            async with asyncio.timeout(self.budget):
                await self.ensure_ready()
                return await call()
        except _REDIS_ERRORS as exc:
            _log.warning("state_store_error", operation=what, error=type(exc).__name__)
            raise state_store_unavailable() from None

    async def ping(self) -> None:
        async with asyncio.timeout(self.budget):
            await self.ensure_ready()
            await self.redis.ping()


async def both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Two calls to different slots sent concurrently (one round trip of latency); the first
    error is raised once both are done, so no failure is left unretrieved."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for result in (a, b):
        if isinstance(result, BaseException):
            raise result
    return a, b  # type: ignore[return-value]
