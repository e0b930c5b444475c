"""Redis trouble: bounded waits, the in-process fallback, fail-closed routes, and the
way back to the cluster without a restart."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from .conftest import RunningGateway, Stack, gateway_stack, wait_for
from .window import DEFAULT_BUCKET_PATH

DEAD_NODES = "127.0.0.1:9,127.0.0.1:10"  # nothing listens: connection refused


@pytest.fixture
async def dead_redis() -> AsyncIterator[Stack]:
    async with gateway_stack({"REDIS_NODES": DEAD_NODES}) as stack:
        yield stack


async def timed_get(gw: RunningGateway, path: str, ip: str) -> tuple[int, float, Any]:
    async with gw.client(ip) as client:
        started = time.monotonic()
        response = await client.get(path)
        return response.status_code, time.monotonic() - started, response


async def test_redis_down_fail_open_uses_exact_fallback_limits(dead_redis: Stack) -> None:
    gw = await dead_redis.start(RATE_LIMIT_REQUESTS=3, REDIS_STARTUP_WAIT_SECONDS=0)
    results = [await timed_get(gw, DEFAULT_BUCKET_PATH, "127.0.0.41") for _ in range(5)]
    assert [status for status, _, _ in results] == [200, 200, 200, 429, 429]
    # Decided in process, without waiting for Redis: the limiter's own account of it.
    assert decided_by(gw, "fallback") == 5
    assert decided_by(gw, "redis") == 0
    refused = results[-1][2]
    assert refused.headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert int(refused.headers["retry-after"]) >= 1
    assert gw.app.metrics.decisions()[("fallback", "allowed")] == 3


async def test_fail_closed_route_answers_503_with_retry_after(dead_redis: Stack) -> None:
    gw = await dead_redis.start(RATE_LIMIT_ROUTES="/auth/login=5/60:closed",
                                REDIS_STARTUP_WAIT_SECONDS=0)
    status, _, response = await timed_get(gw, "/auth/login", "127.0.0.42")
    assert status == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limiter_unavailable"
    assert gw.app.metrics.decisions()[("unavailable", "refused")] == 1
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-policy"] == '"/auth/login";q=5;w=60'
    assert not dead_redis.auth.requests
    # Fail-open routes keep serving meanwhile.
    assert (await timed_get(gw, DEFAULT_BUCKET_PATH, "127.0.0.42"))[0] == 200


async def test_readiness_reports_fallback_but_stays_ready(dead_redis: Stack) -> None:
    gw = await dead_redis.start(REDIS_STARTUP_WAIT_SECONDS=0)
    await timed_get(gw, DEFAULT_BUCKET_PATH, "127.0.0.43")
    status, _, response = await timed_get(gw, "/health/ready", "127.0.0.43")
    assert status == 200
    assert response.json()["checks"]["ratelimit"] == "fallback"
    assert response.json()["checks"]["redis"] != "ok"


async def test_not_ready_when_an_upstream_is_not(dead_redis: Stack) -> None:
    gw = await dead_redis.start(REDIS_STARTUP_WAIT_SECONDS=0)
    dead_redis.users.ready_status = 503
    status, _, response = await timed_get(gw, "/health/ready", "127.0.0.44")
    assert status == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"]["user-service"] == "http_503"
    assert "retry-after" in response.headers


def decided_by(gw: RunningGateway, source: str) -> int:
    return sum(n for (src, _), n in gw.app.metrics.decisions().items() if src == source)


async def until_back_on_redis(gw: RunningGateway, ip: str, within: float = 20.0) -> None:
    """Requests from `ip` until one is decided by Redis again (the breaker's probe)."""
    before = decided_by(gw, "redis")
    deadline = time.monotonic() + within
    while decided_by(gw, "redis") == before:
        assert time.monotonic() < deadline, "gateway never returned to Redis"
        await timed_get(gw, DEFAULT_BUCKET_PATH, ip)
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def gateway_on_redis(
    cluster: Any, ip: str, **settings: Any
) -> AsyncIterator[tuple[RunningGateway, str]]:
    """A gateway on `cluster` (breaker cool-down 0.5 s, no JWT) whose first request from
    `ip` was allowed; yields it and that client's rate-limit key."""
    async with gateway_stack(cluster.service_env("gateway")) as stack:
        gw = await stack.start(CIRCUIT_OPEN_SECONDS=0.5, JWT_ENABLED=False, **settings)
        assert (await timed_get(gw, DEFAULT_BUCKET_PATH, ip))[0] == 200
        yield gw, gw.app.default_policy.key(ip)


@pytest.mark.fault
async def test_fallback_while_nodes_are_down_then_back_to_redis(
        redis_cluster_factory: Callable[[], Any]) -> None:
    cluster, ip = redis_cluster_factory(), "127.0.0.45"
    async with gateway_on_redis(cluster, ip, RATE_LIMIT_REQUESTS=3) as (gw, key):
        assert decided_by(gw, "redis") == 1
        master = cluster.master_for_key(key)
        replicas = cluster.replicas_of(master)
        for port in (*replicas, master):
            cluster.stop_node(port)

        results = [await timed_get(gw, DEFAULT_BUCKET_PATH, ip) for _ in range(5)]
        # The fallback limiter starts its own count: exact limits, per process.
        assert [status for status, _, _ in results] == [200, 200, 200, 429, 429]
        assert decided_by(gw, "fallback") == 5  # none waited for the stopped shard
        ready = (await timed_get(gw, "/health/ready", ip))[2]
        assert ready.status_code == 200
        assert ready.json()["checks"]["ratelimit"] == "fallback"

        for port in (master, *replicas):
            cluster.start_node(port)
        await asyncio.to_thread(cluster.wait_healthy, 60)
        await until_back_on_redis(gw, "127.0.0.46")
        client = cluster.cluster_client()
        try:
            assert client.zcard(key) >= 1
        finally:
            client.close()
        await wait_for(lambda: not gw.app.resources.limiter.breaker.degraded)  # type: ignore[union-attr]


@pytest.mark.fault
async def test_master_killed_failover_and_gateway_follows(
        redis_cluster_factory: Callable[[], Any]) -> None:
    cluster, ip = redis_cluster_factory(), "127.0.0.47"
    async with gateway_on_redis(cluster, ip, RATE_LIMIT_REQUESTS=1000) as (gw, key):
        master = cluster.master_for_key(key)
        cluster.kill_node(master)
        statuses = []
        failover = asyncio.create_task(asyncio.to_thread(cluster.wait_for_failover, master, 30))
        while not failover.done():
            status, _, _ = await timed_get(gw, DEFAULT_BUCKET_PATH, ip)
            statuses.append(status)
            await asyncio.sleep(0.1)
        new_master = await failover
        assert set(statuses) == {200}  # served throughout (fallback while failing over)
        await until_back_on_redis(gw, ip)
        assert cluster.master_for_key(key) == new_master
