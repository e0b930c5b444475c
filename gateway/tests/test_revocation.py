"""Revocation at the edge: a revoked session's (or user's) tokens are refused by every
gateway once the entry is in the log, from the verified-token cache too; a gateway cut
off from Redis keeps its set, fails closed past REVOCATION_MAX_STALENESS_SECONDS, and
refuses what was revoked meanwhile as soon as it is back.

The cut-off is the cluster refusing the gateway's ACL user (`ACL SETUSER gateway off`
and its connections killed on every node): the gateway can neither read the log nor
reconnect, while the publisher (admin) appends, which is what a partition between one
gateway and Redis looks like to it."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from devstack.testkit.traffic import poll
from shared.redis import Credentials, RedisClusterClient, Revocation, append_revocation, parse_nodes

from .conftest import RunningGateway, Stack, claims, gateway_stack, sign


@asynccontextmanager
async def publisher(cluster: Any) -> AsyncIterator[RedisClusterClient]:
    client = RedisClusterClient(parse_nodes(cluster.nodes), timeout=2.0,
                                credentials=Credentials(cluster.admin.username,
                                                        cluster.admin.password))
    try:
        yield client
    finally:
        await client.aclose()


async def revoke(client: RedisClusterClient, revocation: Revocation) -> None:
    await append_revocation(client, revocation, retention_seconds=900, replica_ack_ms=1000)


def session_token(sid: str, **overrides: Any) -> str:
    return sign(claims(sid=sid, **overrides))


async def status_of(gw: RunningGateway, token: str, ip: str = "127.0.0.61") -> tuple[int, str]:
    async with gw.client(ip) as client:
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    code = response.json().get("code", "") if response.status_code >= 400 else ""
    return response.status_code, code


def refused_by(gw: RunningGateway, token: str) -> Callable[[], Any]:
    async def check() -> bool:
        return await status_of(gw, token) == (401, "token_revoked")
    return check


async def test_a_revoked_session_is_refused_at_two_gateways(stack: Stack,
                                                            redis_cluster: Any) -> None:
    first, second = await stack.start(), await stack.start()
    sid, other = uuid.uuid4().hex, uuid.uuid4().hex
    token, kept = session_token(sid), session_token(other)
    for gw in (first, second):  # accepted, and now in each verified-token cache
        assert await status_of(gw, token) == (200, "")
    async with publisher(redis_cluster) as client:
        await revoke(client, Revocation(kind="session", id=sid, exp=int(time.time()) + 900))
    for gw in (first, second):
        await poll(refused_by(gw, token), 10, "the revoked session's token to be refused")
        assert await status_of(gw, kept) == (200, "")  # another session is untouched
    async with first.client("127.0.0.61") as client:
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        ready = await client.get("/health/ready")
        metrics = await httpx.AsyncClient().get(first.metrics_url)
    assert response.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert ready.json()["checks"]["revocations"] == "current"
    assert "gateway_revocation_feed_connected 1.0" in metrics.text
    assert 'gateway_revocation_feed_state{state="current"} 1.0' in metrics.text
    assert "gateway_revocations_received_total" in metrics.text


async def test_a_user_revocation_refuses_tokens_issued_up_to_it(stack: Stack,
                                                                redis_cluster: Any) -> None:
    gw = await stack.start()
    user = str(uuid.uuid4())
    now = int(time.time())
    earlier = sign(claims(sub=user, sid=uuid.uuid4().hex, iat=now - 5, nbf=now - 5))
    later = sign(claims(sub=user, sid=uuid.uuid4().hex, iat=now + 2, nbf=now - 5))
    assert await status_of(gw, earlier) == (200, "")
    async with publisher(redis_cluster) as client:
        await revoke(client, Revocation(kind="user", id=user, exp=now + 900,
                                        before_ms=now * 1000 + 999))
    await poll(refused_by(gw, earlier), 10, "the user's earlier token to be refused")
    assert await status_of(gw, later) == (200, "")  # issued after the moment: accepted


async def _cut_off(cluster: Any, on: bool) -> None:
    """The cluster refuses (on=False) or accepts again the gateway's ACL user."""
    for port in cluster.ports:
        node = cluster.client(port)
        try:
            node.execute_command("ACL", "SETUSER", "gateway", "on" if on else "off")
            if not on:
                node.execute_command("CLIENT", "KILL", "USER", "gateway")
        finally:
            node.close()


async def test_a_gateway_cut_off_for_10s_refuses_what_was_revoked_meanwhile(
        redis_cluster_factory: Any) -> None:
    cluster = redis_cluster_factory()
    async with gateway_stack(cluster.service_env("gateway"), RATE_LIMIT_REQUESTS=10_000) as stack:
        patient = await stack.start()  # the default bound (30 s): keeps serving meanwhile
        strict = await stack.start(REVOCATION_MAX_STALENESS_SECONDS=2.0)
        sid = uuid.uuid4().hex
        token, other = session_token(sid), session_token(uuid.uuid4().hex)
        for gw in (patient, strict):
            assert await status_of(gw, token) == (200, "")
        await _cut_off(cluster, on=False)
        try:
            await poll(lambda: not patient.app.resources.feed.connected  # type: ignore[union-attr]
                       and not strict.app.resources.feed.connected,  # type: ignore[union-attr]
                       10, "both feeds to lose the log")
            async with publisher(cluster) as client:
                await revoke(client, Revocation(kind="session", id=sid,
                                                exp=int(time.time()) + 900))
            cut_at = time.monotonic()
            # The strict gateway fails closed once its bound has passed ...
            await poll(lambda: _unavailable(strict, other), 10, "the strict gateway's 503")
            async with strict.client("127.0.0.62") as client:
                refused = await client.get("/users/me",
                                           headers={"Authorization": f"Bearer {other}"})
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/problem+json"
            # ... the patient one cannot know of the revocation: still accepted (stale set).
            assert await status_of(patient, token) == (200, "")
            while time.monotonic() - cut_at < 10:
                await asyncio.sleep(1)
                assert await status_of(patient, other) == (200, "")
        finally:
            await _cut_off(cluster, on=True)
        for gw in (patient, strict):
            await poll(refused_by(gw, token), 15, "the token revoked while cut off")
            assert await status_of(gw, other) == (200, "")


async def _unavailable(gw: RunningGateway, token: str) -> bool:
    return await status_of(gw, token, "127.0.0.62") == (503, "revocation_unavailable")


async def test_a_failover_of_the_logs_master_during_revocations_loses_none(
        redis_cluster_factory: Any) -> None:
    cluster = redis_cluster_factory()
    async with gateway_stack(cluster.service_env("gateway"), RATE_LIMIT_REQUESTS=10_000) as stack:
        gw = await stack.start()
        sids = [uuid.uuid4().hex for _ in range(30)]
        tokens = {sid: session_token(sid) for sid in sids}
        for token in tokens.values():
            assert await status_of(gw, token) == (200, "")
        old = cluster.master_for_key("rev:{log}")
        async with publisher(cluster) as client:
            for n, sid in enumerate(sids):
                if n == 10:
                    cluster.kill_node(old)  # the next appends wait for the promotion
                revocation = Revocation(kind="session", id=sid, exp=int(time.time()) + 900)
                for _attempt in range(300):  # the publishers' retry path, in short
                    try:
                        await revoke(client, revocation)
                        break
                    except Exception:
                        await asyncio.sleep(0.1)
                else:
                    raise AssertionError("append never succeeded")
        assert cluster.master_for_key("rev:{log}") != old

        async def all_refused() -> bool:
            for token in tokens.values():
                if await status_of(gw, token) != (401, "token_revoked"):
                    return False
            return True

        await poll(all_refused, 30, "every revocation, before and after the failover")
