"""An ended session's revocation is not lost when the master of the revocation log dies:
the append waits (RedisStore's retry path) for the replica's promotion, and the entry is
in the log the promoted replica serves. Verdicts on outcomes, not on how long it took."""

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.redis import REVOCATION_STREAM

pytestmark = pytest.mark.fault


def _append_retries() -> float:
    value = REGISTRY.get_sample_value("auth_state_store_retries_total",
                                      {"operation": "revocation_append"})
    return value or 0.0


def _redis_env(cluster: Any) -> dict[str, str]:
    # The cluster's own ACL login for the auth service, where the test kit has them.
    service_env = getattr(cluster, "service_env", None)
    return service_env("auth-service") if service_env else {"REDIS_NODES": cluster.nodes}


async def test_a_revocation_survives_the_loss_of_the_logs_master(
    auth_app_factory: Any, redis_cluster_factory: Any
) -> None:
    cluster = redis_cluster_factory()
    await asyncio.to_thread(cluster.wait_healthy, 60)  # replicas attached: one can take over
    # A budget no failover on a loaded machine outlasts: the verdict is the outcome.
    async with auth_app_factory(REDIS_WAIT_BUDGET_SECONDS=60.0, **_redis_env(cluster)) as auth:
        victim = await asyncio.to_thread(cluster.master_for_key, REVOCATION_STREAM)
        # A user whose sessions live on another master, so ending one is quick and the
        # wait is the append's.
        while True:
            email = await auth.register()
            tokens = await auth.login(email)
            user_id, sid, _ = tokens["refresh_token"].split(".")
            home = await asyncio.to_thread(cluster.master_for_key, f"sess:{{u:{user_id}}}")
            if home != victim:
                break
        keep = await auth.login(email)
        retries_before = _append_retries()
        await asyncio.to_thread(cluster.kill_node, victim)
        try:
            response = await auth.client.delete(
                f"/auth/sessions/{sid}",
                headers={"Authorization": f"Bearer {keep['access_token']}"})
            assert response.status_code == 204, response.text
            promoted = await asyncio.to_thread(cluster.wait_for_failover, victim, 60)
        finally:
            await asyncio.to_thread(cluster.start_node, victim)
            await asyncio.to_thread(cluster.wait_for_replica, victim, 60)
        assert promoted != victim
        assert _append_retries() > retries_before  # the append did wait for the promotion
        admin = cluster.cluster_client()
        try:
            entries = admin.xrange(REVOCATION_STREAM, "-", "+")
        finally:
            admin.close()
        assert [f["id"] for _, f in entries if f.get("kind") == "session"] == [sid]
        refused = await auth.client.post("/auth/refresh",
                                         json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401
