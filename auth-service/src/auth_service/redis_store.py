"""Calls into the Redis Cluster that ride out a failover: a call that finds its slot's
master gone or frozen is retried, with growing pauses, until the request's wait budget
(request_deadline) is spent; only then is it StoreUnavailable (a 503 at the routes), never
a 500. Writes that must survive the loss of their master wait for a replica (`durably`)."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from auth_service.errors import StoreUnavailable
from auth_service.metrics import STORE_RETRIES, UNREPLICATED_WRITES
from auth_service.request_deadline import request_deadline
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
# Between retries: a killed master's connection fails at once, so without a pause the
# retries would spin; the election takes seconds (cluster-node-timeout plus a vote), and
# the slot map is re-read at most every half second anyway.
_FIRST_PAUSE, _MAX_PAUSE = 0.05, 0.4
_SHORTEST_TRY = 0.01  # less budget left than this: not worth another try


class ScriptCall:
    """A Lua script bound to the store's client: `await call(keys=[...], args=[...])`."""

    def __init__(self, redis: ClusterCommands, source: str, *, ack_timeout_ms: int) -> None:
        self.redis = redis
        self.script = Script(source)
        self.ack_timeout_ms = ack_timeout_ms

    def __call__(self, keys: Sequence[str], args: Sequence[Arg] = ()) -> Awaitable[Any]:
        # Any: the reply's shape is the script's, checked by the code that reads it.
        return self.redis.evalsha(self.script, keys, args)

    async def durably(self, keys: Sequence[str], args: Sequence[Arg] = (), *,
                      what: str) -> Any:
        """Run the script and answer once a replica has its write too (`WAIT 1`), so a
        write the client is told about is still there after its master fails over.

        When no replica acknowledges within the timeout (none is connected, or it lags),
        the write stands on the master and the request goes on: refusing it would turn
        a degraded shard into an outage, and the write is lost only if this master also
        dies before its replica catches up. Each such write is counted and logged."""
        result = await self.redis.evalsha_replicated(self.script, keys, args,
                                                     timeout_ms=self.ack_timeout_ms)
        if result.replicas < 1:
            reason = "no_ack" if result.waited else "no_replica"
            UNREPLICATED_WRITES.labels(what, reason).inc()
            _log.warning("state_store_write_unreplicated", operation=what, reason=reason)
        return result.reply


class RedisStore:
    """The Redis Cluster client plus the rules every call follows."""

    def __init__(self, redis: ClusterCommands, *, call_budget: float, wait_budget: float,
                 ack_timeout_ms: int) -> None:
        self.redis = redis
        self.call_budget = call_budget
        self.wait_budget = wait_budget
        self.ack_timeout_ms = ack_timeout_ms

    def register_script(self, source: str) -> ScriptCall:
        return ScriptCall(self.redis, source, ack_timeout_ms=self.ack_timeout_ms)

    async def ensure_ready(self) -> None:
        """Read the cluster's slot map (also done on demand by the first command)."""
        await self.redis.initialize()

    async def run(self, call: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Run one Redis call, again and again while the cluster is failing over, within
        the request's wait budget (outside a request: `wait_budget` from now). Each try is
        bounded by `call_budget`. An error reply about the command itself (a script bug) is
        raised as it is (a 500). `call` must be safe to repeat: a try that timed out may
        have been applied (every caller's writes are idempotent or detect their own
        earlier try, as a rotation does through its grace-window replay)."""
        loop = asyncio.get_running_loop()
        deadline = request_deadline() or loop.time() + self.wait_budget
        pause = _FIRST_PAUSE
        error = "budget_spent"
        while (remaining := deadline - loop.time()) > _SHORTEST_TRY:
            try:
                async with asyncio.timeout(min(self.call_budget, remaining)):
                    return await call()
            except ReplyError as exc:
                if not exc.transient:
                    raise
                error = exc.kind
            except _UNAVAILABLE as exc:
                error = type(exc).__name__
            remaining = deadline - loop.time()
            if remaining <= _SHORTEST_TRY:
                break
            STORE_RETRIES.labels(what).inc()
            await asyncio.sleep(min(pause, remaining / 2))  # leave time for the next try
            pause = min(pause * 2, _MAX_PAUSE)
        _log.warning("state_store_error", operation=what, error=error)
        raise StoreUnavailable(what) from None

    async def execute(self, key: str, *command: Arg, what: str) -> object:
        """One single-slot command (e.g. `DEL key`) under the same rules as `run`."""
        return await self.run(lambda: self.redis.execute(key, *command), what=what)

    async def ping(self) -> None:
        async with asyncio.timeout(self.call_budget):
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
