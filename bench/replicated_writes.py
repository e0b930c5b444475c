"""What waiting for a replica costs a write (issue 15.1): the auth service answers a
rotation, a revocation or a new session only once a replica has it (`WAIT 1`, pipelined
behind the script on the same connection). This runs the same small write script on a
fresh 3+3 cluster with `evalsha` and with `evalsha_replicated`, rounds interleaved:

    uv run --frozen python -m bench.replicated_writes [writes] [rounds]

Reported per variant: latency p50/p99 of one write at concurrency 1 (what a refresh waits),
throughput at concurrency 16, and Redis CPU µs per write (utime + stime of all six nodes, so
the replicas' extra REPLCONF ACK work counts too)."""

import asyncio
import statistics
import sys
import time
import uuid

from devstack.testkit.fixtures import start_redis_cluster
from shared.redis import Credentials, RedisClusterClient, Script, parse_nodes

# The shape of a rotation: mark one hash spent, create the next, refresh two expiries.
WRITE = Script("""
redis.call('HSET', KEYS[1], 'state', 'spent', 'next', ARGV[1])
redis.call('HSET', KEYS[2], 'state', 'live')
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('EXPIRE', KEYS[2], 3600)
return 1
""")
ACK_TIMEOUT_MS = 100  # the auth service's REDIS_REPLICA_ACK_TIMEOUT_MS default


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / 100


async def _write(client: RedisClusterClient, replicated: bool) -> None:
    family = uuid.uuid4().hex
    keys = [f"b:{{{family}}}:a", f"b:{{{family}}}:b"]
    if replicated:
        await client.evalsha_replicated(WRITE, keys, ("n",), timeout_ms=ACK_TIMEOUT_MS)
    else:
        await client.evalsha(WRITE, keys, ("n",))


async def _serial(client: RedisClusterClient, replicated: bool, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        began = time.perf_counter()
        await _write(client, replicated)
        latencies.append(time.perf_counter() - began)
    return latencies


async def _concurrent(client: RedisClusterClient, replicated: bool, n: int) -> float:
    per_worker = n // 16

    async def worker() -> None:
        for _ in range(per_worker):
            await _write(client, replicated)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    return per_worker * 16 / (time.perf_counter() - began)


async def measure(nodes: str, admin: Credentials, pids: list[int], writes: int,
                  rounds: int) -> None:
    client = RedisClusterClient(parse_nodes(nodes), timeout=2.0, credentials=admin)
    await client.initialize(WRITE)
    while set(client.replica_counts.values()) != {1}:  # replicas listed once they synced
        await _write(client, False)
        await client.refresh()
    rows: dict[str, dict[str, list[float]]] = {
        name: {"p50": [], "p99": [], "rps": [], "cpu": []} for name in ("evalsha", "+ WAIT 1")}
    for _ in range(rounds):
        for name, replicated in (("evalsha", False), ("+ WAIT 1", True)):
            cpu_before = _cpu_seconds(pids)
            latencies = sorted(await _serial(client, replicated, writes))
            rps = await _concurrent(client, replicated, writes)
            cpu = (_cpu_seconds(pids) - cpu_before) / (2 * writes)
            row = rows[name]
            row["p50"].append(latencies[len(latencies) // 2] * 1e6)
            row["p99"].append(latencies[int(len(latencies) * 0.99)] * 1e6)
            row["rps"].append(rps)
            row["cpu"].append(cpu * 1e6)
    await client.aclose()
    print(f"{writes} writes x {rounds} rounds; medians of the rounds")
    print("| variant | p50 µs (1 at a time) | p99 µs | writes/s (16 at a time) "
          "| Redis CPU µs per write |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {statistics.median(row['p50']):.0f} | "
              f"{statistics.median(row['p99']):.0f} | {statistics.median(row['rps']):.0f} | "
              f"{statistics.median(row['cpu']):.1f} |")


def main() -> None:
    writes = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cluster, dispose = start_redis_cluster()
    try:
        pids = [cluster.supervisor.pid(cluster.program_name(port)) for port in cluster.ports]
        admin = Credentials(cluster.admin.username, cluster.admin.password)
        asyncio.run(measure(cluster.nodes, admin, pids, writes, rounds))
    finally:
        dispose()


if __name__ == "__main__":
    main()
