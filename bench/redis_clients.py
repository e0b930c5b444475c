"""Decision 0004's measurement, repeatable: CPU per EVALSHA of the limiter's script for
redis-py's asyncio RedisCluster (with hiredis when installed) and for the project's
client, on a fresh 6-node cluster on free ports, under uvloop.

    uv run --frozen python -m bench.redis_clients [calls]

Prints one line per client and mode: CPU µs per call (time.process_time, the whole
process), sequential and with 32 calls in flight."""

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
import redis.asyncio.cluster as redis_cluster
import uvloop

from devstack.ports import free_ports
from devstack.redis_acl import Login
from devstack.redis_cluster import RedisCluster
from gateway.ratelimit import SLIDING_WINDOW_LUA
from shared.redis import Credentials, RedisClusterClient, Script

Call = Callable[[int], Awaitable[object]]


async def _cpu_per_call(call: Call, calls: int, concurrency: int) -> float:
    for i in range(200):  # warm up: connections, script cache, slot map
        await call(i)
    started = time.process_time()
    if concurrency == 1:
        for i in range(calls):
            await call(i)
    else:
        for base in range(0, calls, concurrency):
            await asyncio.gather(*(call(base + i) for i in range(concurrency)))
    return (time.process_time() - started) / calls * 1e6


def _args(i: int) -> tuple[list[str], list[object]]:
    return [f"bench:{{default:10.0.{i % 50}.1}}"], [1_000_000, 60_000, f"m{i}"]


async def _measure(nodes: list[tuple[str, int]], calls: int,
                   admin: Login) -> list[tuple[str, str, float]]:
    results = []
    ours = RedisClusterClient(nodes, timeout=2.0,
                              credentials=Credentials(admin.username, admin.password))
    script = Script(SLIDING_WINDOW_LUA)
    await ours.initialize(script)

    async def ours_call(i: int) -> object:
        keys, args = _args(i)
        return await ours.evalsha(script, keys, args)  # type: ignore[arg-type]

    theirs = redis_cluster.RedisCluster(
        startup_nodes=[redis_cluster.ClusterNode(h, p) for h, p in nodes],
        username=admin.username, password=admin.password)
    registered = theirs.register_script(SLIDING_WINDOW_LUA)

    async def theirs_call(i: int) -> object:
        keys, args = _args(i)
        return await registered(keys=keys, args=args)

    try:
        for name, call in (("redis-py " + redis.__version__, theirs_call),
                           ("shared.redis", ours_call)):
            for concurrency in (1, 32):
                results.append((name, f"{concurrency} in flight",
                                await _cpu_per_call(call, calls, concurrency)))
    finally:
        await ours.aclose()
        await theirs.aclose()
    return results


def main() -> int:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as state:
        cluster = RedisCluster.standalone(Path(state), free_ports(6, with_bus=True))
        try:
            cluster.start()
            nodes = [("127.0.0.1", port) for port in cluster.ports]
            results = uvloop.run(_measure(nodes, calls, cluster.admin))
        finally:
            cluster.close()
    hiredis = redis.utils.HIREDIS_AVAILABLE
    print(f"{calls} EVALSHA calls per cell, uvloop, hiredis parser: {hiredis}")
    for name, mode, cpu in results:
        print(f"{name:<16} {mode:<12} {cpu:7.1f} CPU µs/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
