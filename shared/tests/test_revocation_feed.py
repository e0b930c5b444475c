"""The revocation feed against a real cluster: catch-up at start and after a reconnect,
live entries, pruning, fail-closed staleness, and a failover of the log's master. The
feed logs in as the gateway's ACL user (read-only on `rev:*`), the publisher as admin."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from devstack.testkit.traffic import poll
from shared import Principal, RevocationUnavailable, TokenError
from shared.redis import (
    REVOCATION_STREAM,
    Credentials,
    RedisClusterClient,
    Revocation,
    RevocationFeed,
    RevocationSet,
    append_revocation,
    parse_nodes,
)


def principal(sub: str, sid: str | None = None, iat: int | None = None) -> Principal:
    now = int(time.time())
    return Principal(subject=sub, roles=(), token_id="j", expires_at=now + 900, claims={},
                     session_id=sid, issued_at=now if iat is None else iat)


def session(sid: str, exp: int | None = None) -> Revocation:
    return Revocation(kind="session", id=sid, exp=exp or int(time.time()) + 900)


def feed_for(cluster: Any, **options: Any) -> RevocationFeed:
    env = cluster.service_env("gateway")
    credentials = Credentials(env["REDIS_USERNAME"],
                              Path(env["REDIS_PASSWORD_FILE"]).read_text().strip())
    defaults: dict[str, Any] = {"retention_seconds": 900, "max_staleness_seconds": 5.0,
                                "block_ms": 200, "timeout": 1.0}
    return RevocationFeed(parse_nodes(cluster.nodes), credentials=credentials,
                          **(defaults | options))


@asynccontextmanager
async def running(feed: RevocationFeed) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(feed.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def publisher(cluster: Any) -> AsyncIterator[RedisClusterClient]:
    client = RedisClusterClient(parse_nodes(cluster.nodes), timeout=2.0,
                                credentials=Credentials(cluster.admin.username,
                                                        cluster.admin.password))
    try:
        yield client
    finally:
        await client.aclose()


async def append(client: RedisClusterClient, revocation: Revocation) -> None:
    await append_revocation(client, revocation, retention_seconds=900, replica_ack_ms=1000)


def refused(feed: RevocationFeed, who: Principal) -> bool:
    try:
        feed.check(who)
    except RevocationUnavailable:
        return False
    except TokenError as exc:
        return exc.code == "token_revoked"
    return False


# --- the set, without Redis -------------------------------------------------------------

def test_user_revocation_covers_tokens_issued_up_to_its_second() -> None:
    revoked = RevocationSet()
    now = time.time()
    revoked.add(Revocation(kind="user", id="u1", exp=int(now) + 900,
                           before_ms=1_700_000_000_500), now)
    assert revoked.revoked(None, "u1", 1_699_999_999)
    assert revoked.revoked(None, "u1", 1_700_000_000)  # the same second: cannot tell, refused
    assert not revoked.revoked(None, "u1", 1_700_000_001)
    assert not revoked.revoked(None, "u2", 1_600_000_000)
    # A later revocation of the same user moves the moment on; an earlier one changes nothing.
    revoked.add(Revocation(kind="user", id="u1", exp=int(now) + 900,
                           before_ms=1_700_000_005_000), now)
    revoked.add(Revocation(kind="user", id="u1", exp=int(now) + 900, before_ms=1), now)
    assert revoked.revoked(None, "u1", 1_700_000_004)


def test_entries_are_pruned_after_their_exp_and_the_grace() -> None:
    revoked = RevocationSet(grace_seconds=10)
    now = time.time()
    assert not revoked.add(session("old", exp=int(now) - 11), now)  # already irrelevant
    revoked.add(session("s1", exp=int(now) + 5), now)
    revoked.add(session("s2", exp=int(now) + 100), now)
    revoked.add(Revocation(kind="user", id="u", exp=int(now) + 5, before_ms=1000), now)
    assert revoked.prune(now + 14) == 0  # exp passed, the leeway not yet
    assert revoked.prune(now + 16) == 2
    assert not revoked.revoked("s1", "x", 0)
    assert revoked.revoked("s2", "x", 0)
    assert not revoked.revoked(None, "u", 0)
    assert len(revoked) == 1


# --- the feed against the cluster ---------------------------------------------------------

async def test_catches_up_at_start_then_follows_live_appends(redis_cluster: Any) -> None:
    before, live = uuid.uuid4().hex, uuid.uuid4().hex
    feed = feed_for(redis_cluster)
    async with publisher(redis_cluster) as client:
        await append(client, session(before))
        assert feed.state == "starting"
        with pytest.raises(RevocationUnavailable):  # fail closed until caught up
            feed.check(principal("u", sid="other"))
        async with running(feed):
            await poll(lambda: feed.state == "current", 10, "the feed to catch up")
            assert refused(feed, principal("u", sid=before))  # appended before it started
            feed.check(principal("u", sid=live))  # not revoked (yet): no exception
            await append(client, session(live))
            await poll(lambda: refused(feed, principal("u", sid=live)), 10,
                       "the live revocation")
            user = uuid.uuid4().hex
            await append(client, Revocation(kind="user", id=user, exp=int(time.time()) + 900,
                                            before_ms=int(time.time() * 1000)))
            await poll(lambda: refused(feed, principal(user, iat=int(time.time()) - 5)), 10,
                       "the user revocation")
            assert feed.connected
            assert feed.received >= 3


async def test_reconnect_reads_on_from_the_last_id(redis_cluster: Any) -> None:
    feed = feed_for(redis_cluster, max_staleness_seconds=0.5)
    missed = [uuid.uuid4().hex for _ in range(3)]
    async with publisher(redis_cluster) as client:
        async with running(feed):
            await poll(lambda: feed.state == "current", 10, "the feed to catch up")
        seen = feed.last_id
        # Away: what is appended now it learns only when it reads again, and meanwhile it
        # refuses every token once the staleness bound is passed (fail closed).
        for sid in missed:
            await append(client, session(sid))
        await poll(lambda: feed.state == "stale", 5, "the feed to go stale")
        with pytest.raises(RevocationUnavailable):
            feed.check(principal("u", sid="unrelated"))
        async with running(feed):
            await poll(lambda: all(refused(feed, principal("u", sid=s)) for s in missed), 10,
                       "the revocations appended while away")
            assert feed.last_id > seen
            assert feed.state == "current"
            feed.check(principal("u", sid="unrelated"))


async def test_a_dropped_connection_is_reopened(redis_cluster: Any) -> None:
    feed = feed_for(redis_cluster)
    async with publisher(redis_cluster) as client, running(feed):
        await poll(lambda: feed.connected, 10, "the feed to connect")
        master = feed.master
        assert master is not None
        await client.execute(REVOCATION_STREAM, b"CLIENT", b"KILL", b"USER", b"gateway")
        await poll(lambda: feed.reconnects >= 1 and feed.connected, 10, "a reconnect")
        sid = uuid.uuid4().hex
        await append(client, session(sid))
        await poll(lambda: refused(feed, principal("u", sid=sid)), 10, "the revocation")


async def test_no_revocation_is_lost_across_a_failover_of_the_logs_master(
        redis_cluster_factory: Any) -> None:
    cluster = redis_cluster_factory()
    feed = feed_for(cluster, max_staleness_seconds=60.0)
    sids: list[str] = []
    async with publisher(cluster) as client, running(feed):
        await poll(lambda: feed.state == "current", 10, "the feed to catch up")
        old = cluster.master_for_key(REVOCATION_STREAM)

        async def publish(count: int) -> None:
            for _ in range(count):
                sid = uuid.uuid4().hex
                for _attempt in range(200):  # the store's retry path, in short
                    try:
                        await append(client, session(sid))
                        break
                    except Exception:
                        await asyncio.sleep(0.1)
                else:
                    raise AssertionError("append never succeeded")
                sids.append(sid)
                await asyncio.sleep(0.02)

        await publish(20)
        cluster.kill_node(old)
        await asyncio.to_thread(cluster.wait_for_failover, old)
        await publish(20)
        await poll(lambda: all(refused(feed, principal("u", sid=s)) for s in sids), 30,
                   "every revocation, before and after the failover")
        assert feed.master is not None
        assert feed.master[1] != old


async def test_a_one_node_seed_list_survives_that_nodes_death(
        redis_cluster_factory: Any) -> None:
    cluster = redis_cluster_factory()
    seed = cluster.master_for_key(REVOCATION_STREAM)
    feed = feed_for(cluster, max_staleness_seconds=60.0)
    feed.startup_nodes = [("127.0.0.1", seed)]
    feed._known = list(feed.startup_nodes)
    async with publisher(cluster) as client, running(feed):
        await poll(lambda: feed.state == "current", 10, "the feed to catch up")
        cluster.kill_node(seed)  # the only node it was told about, and the log's master
        await asyncio.to_thread(cluster.wait_for_failover, seed)
        sid = uuid.uuid4().hex
        for _attempt in range(200):
            try:
                await append(client, session(sid))
                break
            except Exception:
                await asyncio.sleep(0.1)
        await poll(lambda: refused(feed, principal("u", sid=sid)), 30,
                   "the revocation on the promoted replica")
