"""The cluster client and the revocation feed against nodes that announce hostnames, as
the Kubernetes StatefulSet's pods do (docs/kubernetes.md): every node announces
`localhost` (cluster-announce-hostname) and prefers it as its endpoint
(cluster-preferred-endpoint-type hostname), so CLUSTER SLOTS, MOVED and ASK name
`localhost:<port>` and the seed list does too. Every slot is served, a slot moved by
`redis-cli --cluster reshard` and a failover are followed, and the odd endpoints Redis
gives are read as its reference says: "?" (a node without a hostname) and nil/""
(cluster-preferred-endpoint-type unknown-endpoint)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from devstack.redis_cluster import RedisCluster
from devstack.testkit.traffic import poll
from shared.redis import (
    REVOCATION_STREAM,
    ClusterUnavailable,
    Credentials,
    NodeConnection,
    ReplyError,
    RevocationFeed,
    encode,
    parse_nodes,
)
from shared.redis._revocation_feed import master_of_slot

from .test_cluster_client import admin_of, client_for, on_loop  # noqa: F401 (the fixture)

SLOTS = 16384
NAME = "localhost"


@cache
def tag_per_slot() -> tuple[str, ...]:
    """A hash tag for each slot (index = slot)."""
    tags: dict[int, str] = {}
    n = 0
    while len(tags) < SLOTS:
        tags.setdefault(key_slot(str(n).encode()), str(n))
        n += 1
    return tuple(tags[slot] for slot in range(SLOTS))


def key_in(slot: int, prefix: str) -> str:
    return f"{prefix}:{{{tag_per_slot()[slot]}}}"


def names(ports: Any) -> set[tuple[str, int]]:
    return {(NAME, port) for port in ports}


async def slot_map(port: int, cluster: RedisCluster) -> list[Any]:
    """CLUSTER SLOTS from one node, as the client reads it (bytes, nil)."""
    node = await NodeConnection.open(("127.0.0.1", port), 2.0, credentials=admin_of(cluster))
    try:
        reply = await node.call(encode("CLUSTER", "SLOTS"))
    finally:
        node.close()
    assert isinstance(reply, list)
    return reply


async def endpoints(cluster: RedisCluster) -> dict[int, set[bytes | None]]:
    """{master port: the endpoints the six nodes give it}."""
    seen: dict[int, set[bytes | None]] = {}
    for port in cluster.ports:
        for entry in await slot_map(port, cluster):
            seen.setdefault(entry[2][1], set()).add(entry[2][0])
    return seen


@contextmanager
def node_setting(cluster: RedisCluster, ports: list[int], name: str, value: str,
                 restore: str) -> Iterator[None]:
    """CONFIG SET `name` on these nodes for the block, then back to `restore`."""
    try:
        for port in ports:
            with cluster.client(port) as node:
                node.config_set(name, value)
        yield
    finally:
        for port in ports:
            with cluster.client(port) as node:
                node.config_set(name, restore)


def gateway_login(cluster: RedisCluster) -> Credentials:
    env = cluster.service_env("gateway")
    return Credentials(env["REDIS_USERNAME"],
                       Path(env["REDIS_PASSWORD_FILE"]).read_text().strip())


@asynccontextmanager
async def following(cluster: RedisCluster, **options: Any) -> AsyncIterator[RevocationFeed]:
    """A revocation feed (as the gateway's ACL user) running for the block, caught up."""
    feed = RevocationFeed(parse_nodes(cluster.nodes), credentials=gateway_login(cluster),
                          retention_seconds=900, max_staleness_seconds=5.0, block_ms=200,
                          timeout=1.0)
    for name, value in options.items():
        setattr(feed, name, value)
    task = asyncio.create_task(feed.run())
    try:
        await asyncio.wait_for(feed.first_caught_up.wait(), 10)
        yield feed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_every_slot_is_served_through_hostnames(
        redis_cluster_with_hostnames: Any,
        on_loop: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    cluster = redis_cluster_with_hostnames
    assert cluster.nodes.startswith(f"{NAME}:")

    async def body() -> None:
        client = client_for(cluster)
        prefix = f"hn:{uuid.uuid4().hex[:8]}"
        keys = [key_in(slot, prefix) for slot in range(SLOTS)]
        try:
            await client.initialize()
            assert client.masters == names(cluster.masters())
            # What the gateway's readiness probe and the auth service's ping send.
            infos = await client.on_masters(b"CLUSTER", b"INFO", each=True)
            assert all(isinstance(i, bytes) and i.startswith(b"cluster_state:ok")
                       for i in infos)
            replies = await asyncio.gather(*(client.execute(k, "SET", k, 1, "PX", 60000)
                                             for k in keys))
            assert replies == [b"OK"] * SLOTS
            assert client.redirects == 0
            # One connection per node, keyed by the name the cluster gives it.
            assert set(client._connections) <= names(cluster.ports)
        finally:
            await client.aclose()
        # Each master holds the keys of exactly the slots it owns.
        view = cluster.view()
        for port in cluster.masters():
            owned = sum(hi - lo + 1 for n in view if n.port == port for lo, hi in n.slots)
            with cluster.client(port) as node:
                assert len(list(node.scan_iter(match=f"{prefix}:*", count=10000))) == owned

    await on_loop(body)


async def test_moved_after_a_reshard_names_the_host(redis_cluster_with_hostnames: Any) -> None:
    cluster = redis_cluster_with_hostnames
    client = client_for(cluster)
    try:
        await client.initialize()
        masters = [n for n in cluster.view() if n.is_master and n.slots]
        source, target = masters[0], masters[1]
        slot = source.slots[0][0]  # reshard moves the source's lowest slots first
        key = key_in(slot, f"hn:{uuid.uuid4().hex[:8]}")
        assert await client.execute(key, "SET", key, "kept") == b"OK"
        assert client.slots[slot] == (NAME, source.port)

        cluster.cluster_command("reshard", f"127.0.0.1:{target.port}",
                                "--cluster-from", source.node_id,
                                "--cluster-to", target.node_id, "--cluster-slots", "1")
        await poll(lambda: cluster.master_for_slot(slot) == target.port, 10,
                   "every node to see the slot moved")

        # The old owner's redirection carries the target's hostname, not an IP.
        old_owner = await NodeConnection.open((NAME, source.port), 2.0,
                                              credentials=admin_of(cluster))
        try:
            moved = await old_owner.call(encode("GET", key))
        finally:
            old_owner.close()
        assert isinstance(moved, ReplyError)
        assert str(moved) == f"MOVED {slot} {NAME}:{target.port}"

        assert await client.execute(key, "GET", key) == b"kept"  # map still says source
        assert client.redirects == 1
        assert client.slots[slot] == (NAME, target.port)
    finally:
        await client.aclose()


@asynccontextmanager
async def without_hostname(cluster: RedisCluster, port: int) -> AsyncIterator[None]:
    """The node at `port` announces no hostname for the block: CLUSTER SLOTS gives "?"
    as its endpoint everywhere (and MOVED "?:port"), as for a node configured to prefer
    hostnames that has none."""
    async def unnamed_everywhere() -> bool:
        return (await endpoints(cluster))[port] == {b"?"}

    async def named_everywhere() -> bool:
        return set().union(*(await endpoints(cluster)).values()) == {NAME.encode()}

    with node_setting(cluster, [port], "cluster-announce-hostname", "", NAME):
        await poll(unnamed_everywhere, 10, f"every node to see {port} without a name")
        yield
    await poll(named_everywhere, 10, "every node to see the hostname back")


async def test_a_node_without_a_hostname_is_reached_at_its_ip(
        redis_cluster_with_hostnames: Any) -> None:
    """"?" names no host (not the queried node's): the client takes the IP the CLUSTER
    SLOTS entry carries, and a MOVED "?:port" has it read the map again."""
    cluster = redis_cluster_with_hostnames
    key = f"hn:{{{uuid.uuid4().hex}}}"
    slot = key_slot(key.encode())
    nameless = cluster.master_for_slot(slot)
    other = next(p for p in cluster.masters() if p != nameless)
    async with without_hostname(cluster, nameless):
        client = client_for(cluster)
        try:
            await client.initialize()
            assert client.slots[slot] == ("127.0.0.1", nameless)
            assert await client.execute(key, "SET", key, "v") == b"OK"
            client.slots[slot] = (NAME, other)  # stale: `other` answers "MOVED slot ?:port"
            client.refresh_interval = 3600.0  # only the MOVED itself may re-read the map
            assert await client.execute(key, "GET", key) == b"v"
            assert client.redirects == 1
            assert client.slots[slot] == ("127.0.0.1", nameless)
        finally:
            await client.aclose()


async def test_the_revocation_feed_finds_a_log_master_without_a_hostname(
        redis_cluster_with_hostnames: Any) -> None:
    """Sent to the wrong master first, which answers "MOVED slot ?:port": the feed looks
    the master up again (CLUSTER SLOTS: its IP) instead of retrying the host "?"."""
    cluster = redis_cluster_with_hostnames
    slot = key_slot(REVOCATION_STREAM.encode())
    nameless = cluster.master_for_slot(slot)
    other = next(p for p in cluster.masters() if p != nameless)
    async with without_hostname(cluster, nameless):
        async with following(cluster, master=(NAME, other)) as feed:
            assert feed.master == ("127.0.0.1", nameless)
        assert master_of_slot((NAME, other), await slot_map(other, cluster), slot) == (
            "127.0.0.1", nameless)


async def test_a_reconnect_resolves_the_name_again(redis_cluster_with_hostnames: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No IP is kept for a name: the connection that replaces a lost one looks the name
    up again (a pod back at a new IP behind the same DNS name is found)."""
    cluster = redis_cluster_with_hostnames
    loop = asyncio.get_running_loop()
    looked_up: list[str] = []
    resolve = loop.getaddrinfo

    async def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return await resolve(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    client = client_for(cluster)
    key = f"hn:{{{uuid.uuid4().hex}}}"
    try:
        await client.initialize()
        master = client.slots[key_slot(key.encode())]
        assert master is not None
        connection_id = await client.execute(key, "CLIENT", "ID")
        before = looked_up.count(NAME)
        first = client._connections[master]
        with cluster.client(master[1]) as node:
            node.execute_command("CLIENT", "KILL", "ID", connection_id)
        await poll(lambda: first.closed, 5, "the killed connection to be seen closed")
        assert await client.execute(key, "SET", key, "v") == b"OK"
        assert client._connections[master] is not first
        assert looked_up.count(NAME) == before + 1
    finally:
        await client.aclose()


async def test_an_unknown_endpoint_is_the_host_that_was_asked(
        redis_cluster_with_hostnames: Any) -> None:
    """cluster-preferred-endpoint-type unknown-endpoint (nodes behind a load balancer):
    CLUSTER SLOTS gives nil endpoints and MOVED ":port", both meaning the host we asked."""
    cluster = redis_cluster_with_hostnames
    with node_setting(cluster, cluster.ports, "cluster-preferred-endpoint-type",
                      "unknown-endpoint", "hostname"):
        assert set().union(*(await endpoints(cluster)).values()) == {None}
        client = client_for(cluster)
        try:
            await client.initialize()
            assert client.masters == names(cluster.masters())
            key = f"hn:{{{uuid.uuid4().hex}}}"
            slot = key_slot(key.encode())
            right = client.slots[slot]
            client.slots[slot] = next(m for m in client.masters if m != right)
            assert await client.execute(key, "SET", key, "v") == b"OK"
            assert client.redirects == 1
            assert client.slots[slot] == right
        finally:
            await client.aclose()


@pytest.mark.fault
async def test_a_failover_is_followed_by_hostname(redis_cluster_with_hostnames: Any) -> None:
    cluster = redis_cluster_with_hostnames
    key = f"hn:{{{uuid.uuid4().hex}}}"
    slot = key_slot(key.encode())
    old = cluster.master_for_slot(slot)
    client = client_for(cluster, timeout=1.0)
    try:
        await client.initialize()
        assert await client.execute(key, "SET", key, "before") == b"OK"
        assert await client.execute(key, "WAIT", 1, 2000) == 1  # the replica has it
        async with following(cluster) as feed:
            cluster.kill_node(old)
            try:
                promoted = cluster.wait_for_failover(old)

                async def served() -> bool:
                    try:
                        return await client.execute(key, "GET", key) == b"before"
                    except (OSError, TimeoutError, ClusterUnavailable, ReplyError):
                        return False

                await poll(served, 10, "the key served by the promoted replica")
                assert client.slots[slot] == (NAME, promoted)
                await poll(lambda: feed.connected and feed.master is not None
                           and feed.master[1] != old, 10, "the feed on a live master")
                assert feed.master is not None
                assert feed.master[0] == NAME
            finally:
                cluster.start_node(old)
        cluster.wait_for_replica(old)
    finally:
        await client.aclose()

