"""Redis Cluster faults under steady traffic through the gateway: a killed master, a frozen
master, two masters down (no majority), the whole cluster crashed.

Steady traffic is 20 client IPs sending GET /.well-known/jwks.json in bounded loops; every
request runs the limiter's script on the key `rl:{default:<ip>}`, so the 20 keys are spread
over all three shards and every fault hits busy keys."""

import asyncio
import time

import httpx
import pytest

from devstack.redis_topology import slot_for_key
from devstack.stack import Stack
from devstack.testkit.traffic import limiter_mode, poll, server_latencies

pytestmark = pytest.mark.fault

MAX_LATENCY = 1.0  # seconds: the contract's "no request over 1 s", as the gateway measures it
# As the clients measure it: the load generator shares two cores with the whole stack (and,
# in CI or on a dev box, with whatever else runs), so its own scheduling delays add to what the
# gateway measured. This bound only proves no request hung; the 1 s figure is asserted above
# on the gateway's own measurement. Quiet-machine client maxima were 0.5-0.8 s.
MAX_CLIENT_LATENCY = 3.0
FAILOVER_BOUND = 10.0  # cluster-node-timeout is 2 s; election and gossip add a few more


def _busy_keys(ips: list[str]) -> list[str]:
    return [f"rl:{{default:{ip}}}" for ip in ips]


async def _back_on_redis(probe: httpx.AsyncClient, within: float = 30.0) -> float:
    async def on_redis() -> bool:
        return await limiter_mode(probe) == "redis"

    return await poll(on_redis, within, "the gateway to leave its fallback limiter")


def _server_max(stack: Stack, ips: list[str]) -> float:
    latencies = server_latencies(stack.log_lines("gateway", "request"), set(ips))
    assert latencies, "no access-log lines for the traffic's client IPs"
    return latencies[-1]


async def _healthy(stack: Stack) -> None:
    await asyncio.to_thread(stack.redis.wait_healthy, 60)


async def test_master_sigkill_under_load_on_every_shard(fault_stack, traffic, addresses,
                                                        probe) -> None:
    cluster = fault_stack.redis
    await _healthy(fault_stack)
    ips = addresses(20)
    # One busy key per shard, so the loop kills the master of each shard in turn.
    by_master: dict[int, str] = {}
    for key in _busy_keys(ips):
        by_master.setdefault(await asyncio.to_thread(cluster.master_for_key, key), key)
    assert len(by_master) == 3, f"busy keys cover only masters {sorted(by_master)}"

    rows = []
    async with traffic(ips) as load:
        await load.wait_requests(200)
        for key in by_master.values():
            victim = await asyncio.to_thread(cluster.master_for_key, key)
            began = time.monotonic()
            await asyncio.to_thread(cluster.kill_node, victim)
            promoted = await asyncio.to_thread(cluster.wait_for_failover, victim, 30)
            failover = time.monotonic() - began
            on_redis = await _back_on_redis(probe) + failover
            await asyncio.to_thread(cluster.start_node, victim)
            await asyncio.to_thread(cluster.wait_for_replica, victim, 30)
            rejoined = time.monotonic() - began
            rows.append((victim, promoted, slot_for_key(key), failover, on_redis, rejoined))
            await load.wait_requests(200)
    report = load.report
    for victim, promoted, slot, failover, on_redis, rejoined in rows:
        print(f"\nkilled master {victim} (slot {slot} busy): replica {promoted} promoted, "
              f"cluster ok after {failover:.1f}s, gateway on Redis after {on_redis:.1f}s, "
              f"old master back as replica after {rejoined:.1f}s")
    print(f"traffic: {report.summary()}")

    assert report.server_errors == 0, report.statuses()
    assert report.client_failures == 0, report.statuses()
    server_max = _server_max(fault_stack, ips)
    print(f"slowest request as the gateway measured it: {server_max * 1000:.0f} ms")
    assert server_max < MAX_LATENCY
    assert report.max_latency < MAX_CLIENT_LATENCY, report.summary()
    assert report.rate > 100, report.summary()  # the load was real
    for victim, _, _, failover, _, _ in rows:
        assert failover < FAILOVER_BOUND, (victim, failover)
        assert (await asyncio.to_thread(cluster.roles))[victim] == "replica"
    await _healthy(fault_stack)
    assert await limiter_mode(probe) == "redis"


async def test_frozen_master_never_holds_a_request(fault_stack, traffic, addresses,
                                                   probe) -> None:
    cluster = fault_stack.redis
    await _healthy(fault_stack)
    ips = addresses(20)
    victim = await asyncio.to_thread(cluster.master_for_key, _busy_keys(ips)[0])
    async with traffic(ips) as load:
        await load.wait_requests(200)
        began = time.monotonic()
        await asyncio.to_thread(cluster.pause_node, victim)
        try:
            promoted = await asyncio.to_thread(cluster.wait_for_failover, victim, 30)
            failover = time.monotonic() - began
            # The freeze lasts 10 s whatever the failover took: the point is a long hang.
            await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - began)))
        finally:
            await asyncio.to_thread(cluster.resume_node, victim)
        await asyncio.to_thread(cluster.wait_for_replica, victim, 30)
        rejoined = time.monotonic() - began
        on_redis = await _back_on_redis(probe)
        await load.wait_requests(200)
    report = load.report
    print(f"\nfroze master {victim} for 10 s: replica {promoted} promoted after {failover:.1f}s,"
          f" old master back as replica {rejoined:.1f}s after the freeze began, gateway on "
          f"Redis {on_redis:.1f}s later; traffic: {report.summary()}")

    # REDIS_BUDGET_MS=150: a request that waited on the frozen node for longer than the
    # budget (and the upstream call) would show up here.
    server_max = _server_max(fault_stack, ips)
    print(f"slowest request as the gateway measured it: {server_max * 1000:.0f} ms")
    assert server_max < MAX_LATENCY
    assert report.max_latency < MAX_CLIENT_LATENCY, report.summary()
    assert report.server_errors == 0, report.statuses()
    assert report.client_failures == 0, report.statuses()
    assert failover < FAILOVER_BOUND
    assert (await asyncio.to_thread(cluster.roles))[victim] == "replica"
    await _healthy(fault_stack)


async def test_two_masters_down_then_restarted_from_aof(fault_stack, traffic, addresses,
                                                        probe, new_account) -> None:
    cluster = fault_stack.redis
    await _healthy(fault_stack)
    account = await new_account()
    ips = addresses(20)
    masters = sorted(await asyncio.to_thread(cluster.masters))
    victims = masters[:2]
    # Public routes that need no Redis state of their own: the JWKS (auth-service) and the
    # own profile (user-service, PostgreSQL). Login and refresh keep their state in Redis
    # and answer 503 while its shard is down, by design (auth-service README).
    async with traffic(ips[:10]) as jwks, traffic(ips[10:], path="/users/me",
                                                   headers=account.bearer) as profile:
        await jwks.wait_requests(200)
        began = time.monotonic()
        for victim in victims:
            await asyncio.to_thread(cluster.kill_node, victim)

        async def in_fallback() -> bool:
            return await limiter_mode(probe) == "fallback"

        to_fallback = await poll(in_fallback, 15, "the gateway to use its fallback limiter")
        await jwks.wait_requests(300)  # served while the cluster has no majority
        down_for = time.monotonic() - began
        for victim in victims:
            await asyncio.to_thread(cluster.start_node, victim)
        restarted = time.monotonic()
        await _healthy(fault_stack)
        healed = time.monotonic() - restarted
        on_redis = await _back_on_redis(probe) + healed
        await jwks.wait_requests(200)
    during = [r.between(began, began + down_for) for r in (jwks.report, profile.report)]
    print(f"\nkilled masters {victims} (no majority): gateway in fallback after "
          f"{to_fallback:.1f}s; {sum(r.total for r in during)} requests answered during "
          f"{down_for:.1f}s down; after restart from AOF cluster ok in {healed:.1f}s, gateway "
          f"on Redis after {on_redis:.1f}s (no gateway restart)")
    print(f"jwks traffic: {jwks.report.summary()}\nprofile traffic: {profile.report.summary()}")

    for report in (jwks.report, profile.report):
        assert report.server_errors == 0, report.statuses()
        assert report.client_failures == 0, report.statuses()
        assert set(report.statuses()) == {200}, report.statuses()
        assert report.max_latency < MAX_CLIENT_LATENCY, report.summary()
    server_max = _server_max(fault_stack, ips)
    print(f"slowest request as the gateway measured it: {server_max * 1000:.0f} ms")
    assert server_max < MAX_LATENCY
    assert all(r.total > 0 for r in during)
    # Both victims are back (from their AOF) and the cluster is whole again. Which node of
    # each pair is master now depends on restart order: no failover happens while two of
    # three masters are down, but once the first victim is back the masters have a majority
    # again and may promote the replica of a victim still loading its AOF, as Redis intends.
    roles = await asyncio.to_thread(cluster.roles)
    assert all(roles[victim] in ("master", "replica") for victim in victims), roles
    assert sorted(roles.values()) == ["master"] * 3 + ["replica"] * 3, roles
    assert fault_stack.supervisor.state("gateway") == "RUNNING"


async def test_whole_cluster_crash_keeps_refresh_tokens(fault_stack, new_account) -> None:
    cluster = fault_stack.redis
    await _healthy(fault_stack)
    accounts = [await new_account() for _ in range(10)]
    # appendfsync everysec: anything written more than ~1 s before a crash is on disk.
    await asyncio.sleep(2.5)
    began = time.monotonic()
    for port in cluster.ports:
        await asyncio.to_thread(fault_stack.supervisor.kill, cluster.program_name(port))
    for port in cluster.ports:
        await asyncio.to_thread(cluster.start_node, port)
    await _healthy(fault_stack)
    healed = time.monotonic() - began

    async def first_refresh() -> bool:
        response = await accounts[0].client.post(
            "/auth/refresh", json={"refresh_token": accounts[0].tokens["refresh_token"]})
        assert response.status_code in (200, 503), response.text
        return response.status_code == 200

    service_back = await poll(first_refresh, 30, "auth-service to use the cluster again")
    statuses = [(await a.client.post("/auth/refresh",
                                     json={"refresh_token": a.tokens["refresh_token"]}))
                .status_code for a in accounts[1:]]
    print(f"\nall six nodes SIGKILLed and restarted: cluster ok after {healed:.1f}s, first "
          f"refresh accepted {service_back:.1f}s later; refresh statuses {statuses}")
    assert statuses == [200] * len(accounts[1:])
    assert fault_stack.supervisor.state("auth-service") == "RUNNING"
