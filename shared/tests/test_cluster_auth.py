"""The cluster client's AUTH against a real cluster (its default user is off): every
connection it opens authenticates first (a node reached through MOVED too), a refused
password fails the connection with a clear error, and no credentials is NOAUTH."""

import asyncio
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from devstack import redis_topology
from shared.redis import (
    AuthenticationError,
    ClusterUnavailable,
    Credentials,
    RedisClusterClient,
    Script,
    parse_nodes,
)

ECHO = Script("return ARGV[1]")
USER = "tester"


@pytest.fixture(scope="module")
def locked_cluster(redis_cluster_factory: Any) -> tuple[Any, Credentials]:
    """A cluster (this module's own) with one more ACL user, whose password the tests
    know and may get wrong."""
    cluster = redis_cluster_factory()
    cluster.locked_view = cluster.view()
    cluster.locked_masters = cluster.masters()
    password = secrets.token_urlsafe(24)
    for port in cluster.ports:
        with redis_topology.client((redis_topology.HOST, port)) as node:  # as admin
            node.execute_command("ACL", "SETUSER", USER, "on", f">{password}", "~*", "&*",
                                 "+@all")
    return cluster, Credentials(USER, password)


@pytest.fixture(scope="module")
def redis_cluster_factory() -> Iterator[Callable[[], Any]]:
    # Module-scoped: one locked cluster for these tests (the plugin's factory is per test).
    from devstack.testkit.fixtures import _factory, start_redis_cluster

    yield from _factory(start_redis_cluster)


def keys_on_every_master(cluster: Any) -> list[str]:
    keys: dict[int, str] = {}
    while len(keys) < 3:
        key = f"t:{{auth:{uuid.uuid4().hex}}}"
        owner = redis_topology.master_for_slot(cluster.locked_view,
                                               redis_topology.slot_for_key(key))
        assert owner is not None
        keys.setdefault(owner.port, key)
    return list(keys.values())


async def test_every_connection_authenticates(locked_cluster: Any) -> None:
    cluster, credentials = locked_cluster
    client = RedisClusterClient(parse_nodes(cluster.nodes), timeout=2.0, credentials=credentials)
    try:
        await client.initialize(ECHO)
        for key in keys_on_every_master(cluster):
            assert await client.evalsha(ECHO, [key], ("hi",)) == b"hi"
            assert await client.execute(key, "SET", key, "1", "PX", 60000) == b"OK"
        assert len(client._connections) >= 3
    finally:
        await client.aclose()


async def test_a_node_first_reached_through_moved_authenticates(locked_cluster: Any) -> None:
    """The client knows one master only and believes it owns every slot: the others are
    met through MOVED, on connections opened there and then."""
    cluster, credentials = locked_cluster
    first = cluster.locked_masters[0]
    client = RedisClusterClient([("127.0.0.1", first)], timeout=2.0, credentials=credentials,
                                refresh_interval=3600)
    client.slots = [("127.0.0.1", first)] * len(client.slots)
    client._refreshed_at = float("inf")  # no background re-read: MOVED alone finds them
    try:
        for key in keys_on_every_master(cluster):
            assert await client.execute(key, "SET", key, "1", "PX", 60000) == b"OK"
        assert client.redirects == 2
        assert {port for _, port in client._connections} == set(cluster.locked_masters)
    finally:
        await client.aclose()


async def test_a_wrong_password_fails_the_connection_clearly(locked_cluster: Any) -> None:
    cluster, credentials = locked_cluster
    wrong = Credentials(USER, credentials.password + "x")
    port = cluster.locked_masters[0]
    client = RedisClusterClient([("127.0.0.1", port)], timeout=2.0, credentials=wrong)
    client.slots = [("127.0.0.1", port)] * len(client.slots)
    try:
        for _ in range(2):  # the second call tries a new connection, refused again
            with pytest.raises(AuthenticationError) as refused:
                await client.execute("t:{wrong}", "GET", "t:{wrong}")
            message = str(refused.value)
            assert "WRONGPASS" in message
            assert repr(USER) in message
            assert wrong.password not in message
        assert not client._connections  # no connection is kept that AUTH did not open
        with pytest.raises(ClusterUnavailable, match="AuthenticationError"):
            await client.refresh()
    finally:
        await client.aclose()
    assert wrong.password not in repr(wrong)


async def test_without_credentials_the_cluster_refuses(locked_cluster: Any) -> None:
    cluster, _ = locked_cluster
    client = RedisClusterClient(parse_nodes(cluster.nodes), timeout=2.0)
    try:
        with pytest.raises(ClusterUnavailable, match="ReplyError"):
            await client.initialize()
    finally:
        await client.aclose()
    anonymous = redis.Redis(host=redis_topology.HOST, port=cluster.ports[0], socket_timeout=2)
    with anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()


async def test_auth_is_the_first_command_on_the_wire() -> None:
    """Against a fake node that records what arrives: AUTH comes alone, and the caller's
    command follows only after its reply."""
    received: list[bytes] = []
    authed = asyncio.Event()

    async def node(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunk = await reader.read(65536)
        received.append(chunk)
        writer.write(b"+OK\r\n")
        authed.set()
        chunk = await reader.read(65536)
        received.append(chunk)
        writer.write(b"$2\r\nhi\r\n")
        await writer.drain()
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(node, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisClusterClient([("127.0.0.1", port)], timeout=2.0,
                                credentials=Credentials("svc", "s3cret-password"))
    client.slots = [("127.0.0.1", port)] * len(client.slots)
    try:
        assert await client.execute("k", "GET", "k") == b"hi"
        assert authed.is_set()
        assert received == [b"*3\r\n$4\r\nAUTH\r\n$3\r\nsvc\r\n$15\r\ns3cret-password\r\n",
                            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"]
    finally:
        await client.aclose()
        server.close()
