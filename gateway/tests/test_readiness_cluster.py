"""Readiness reports the cluster's own view (cluster_state, slots covered) on a cluster
this test owns, and keeps decision 0002: a gateway that can still serve stays ready.

Our nodes run with `cluster-require-full-coverage no` (infra/redis-cluster/redis.conf), so
`cluster_state` stays "ok" with a slot that nobody serves: the slot count is what tells."""

import asyncio
import contextlib
from typing import Any

import redis

from devstack import redis_topology

from .conftest import gateway_stack

HANG_GUARD = 30.0  # seconds; the verdicts are what the nodes and the gateway report


def _assigned(port: int) -> int:
    with redis_topology.client((redis_topology.HOST, port)) as node:  # as the admin user
        info = str(node.execute_command("CLUSTER", "INFO"))
    return int(dict(line.split(":", 1) for line in info.split())["cluster_slots_assigned"])


def _forget_slot_zero(ports: list[int]) -> None:
    """Every node forgets slot 0 (again, when gossip from a node that had not yet forgotten
    it gave it back), until none claims it."""
    while any(_assigned(port) != 16383 for port in ports):
        for port in ports:
            # A ResponseError: already unassigned on this node.
            with redis_topology.client((redis_topology.HOST, port)) as node, \
                    contextlib.suppress(redis.ResponseError):
                node.execute_command("CLUSTER", "DELSLOTS", 0)


async def test_uncovered_slots_are_reported_without_failing_readiness(
        redis_cluster_factory: Any) -> None:
    cluster = redis_cluster_factory()
    async with gateway_stack(cluster.service_env("gateway"), REDIS_BUDGET_MS=2000) as stack:
        gw = await stack.start()
        async with gw.client() as client:
            healthy = (await client.get("/health/ready")).json()["checks"]
            assert (healthy["cluster_state"], healthy["slots"]) == ("ok", "16384/16384")

            async with asyncio.timeout(HANG_GUARD):
                await asyncio.to_thread(_forget_slot_zero, cluster.ports)
                answer = await client.get("/health/ready")  # the probe is not cached here
    checks = answer.json()["checks"]
    assert checks["slots"] == "16383/16384"
    assert checks["cluster_state"] == "ok"  # what the cluster itself says, as configured
    assert answer.status_code == 200  # reported, not gated: the limiter still serves


async def test_a_lost_shard_is_reported_with_the_view_of_the_masters_that_answer(
        redis_cluster_factory: Any) -> None:
    """A whole shard down (master and replica, so nothing fails over): the probe still
    reports what the other masters see, and which part did not answer."""
    cluster = redis_cluster_factory()
    async with gateway_stack(cluster.service_env("gateway"), REDIS_BUDGET_MS=2000) as stack:
        gw = await stack.start()
        master = cluster.masters()[0]
        for port in (*cluster.replicas_of(master), master):
            cluster.stop_node(port)
        async with gw.client() as client, asyncio.timeout(HANG_GUARD):
            while True:  # until the survivors have marked the lost master failed
                answer = await client.get("/health/ready")
                checks = answer.json()["checks"]
                if checks.get("slots", "").split("/")[0] not in ("", "16384"):
                    break
                await asyncio.sleep(0.2)
    assert checks["redis"].endswith("from 1 of 3 masters"), checks
    assert int(checks["slots"].split("/")[0]) < 16384
    assert checks["cluster_state"] in ("ok", "fail")
    assert answer.status_code == 200  # reported, not gated: the fallback limiter serves
