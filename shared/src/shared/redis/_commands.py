"""The narrow interface the services program against, so the client behind it can be
swapped (envoyproxy/ratelimit does the same over its Redis driver)."""

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from shared.redis._cluster import Replicated, Script
from shared.redis._resp import Arg


class ClusterCommands(Protocol):
    """Scripts and single-slot commands on the masters of a Redis Cluster."""

    @property
    def redirects(self) -> int:
        """MOVED and ASK replies followed so far (metrics)."""
        ...

    async def initialize(self, script: Script | None = None) -> None: ...

    async def evalsha(self, script: Script, keys: Sequence[str],
                      args: Iterable[Arg]) -> object: ...

    def evalsha_now(self, script: Script, keys: Sequence[str],
                    args: Iterable[Arg]) -> "asyncio.Future[object]":
        """`evalsha`, already sent when this returns where the client can (hot paths)."""
        ...

    async def evalsha_replicated(self, script: Script, keys: Sequence[str],
                                 args: Iterable[Arg], *, timeout_ms: int) -> Replicated:
        """`evalsha`, answered once a replica has the write too (WAIT) or `timeout_ms`."""
        ...

    async def execute(self, key: str, *command: Arg) -> object: ...

    async def on_masters(self, *command: Arg, each: bool = False) -> list[object]: ...

    async def aclose(self) -> None: ...
