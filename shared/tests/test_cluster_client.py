"""The project's Redis Cluster client against a real cluster: routing, redirections,
script loading, slot migration, and a node that never answers. Each test runs on the
asyncio loop and on uvloop (what the services run on: its transports and its order of
timers and I/O differ)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from redis.crc import key_slot

from devstack import redis_topology
from devstack.testkit.traffic import poll
from shared.redis import (
    Credentials,
    NodeConnection,
    RedisClusterClient,
    Script,
    encode,
    parse_nodes,
)

# A counter with a limit, in the shape of the gateway's limiter: {allowed, remaining, member}
# (the member echoed, so a reply can be matched to its call).
LIMITED_COUNTER = Script("""
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if count < limit then
  redis.call('SET', KEYS[1], count + 1, 'PX', 60000)
  return {1, limit - count - 1, ARGV[2]}
end
return {0, 0, ARGV[2]}
""")

Body = Callable[[], Awaitable[None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def on_loop(request: pytest.FixtureRequest) -> Callable[[Body], Awaitable[None]]:
    async def run(body: Body) -> None:
        if request.param == "asyncio":
            await body()
        else:  # a loop of its own, in a thread
            await asyncio.to_thread(uvloop.run, body())

    return run


def admin_of(cluster: Any) -> Credentials:
    """The cluster's admin login (its nodes refuse anonymous clients)."""
    return Credentials(cluster.admin.username, cluster.admin.password)


def client_for(cluster: Any, timeout: float = 2.0, **options: Any) -> RedisClusterClient:
    return RedisClusterClient(parse_nodes(cluster.nodes), timeout=timeout,
                              credentials=admin_of(cluster), **options)


def node_id(port: int) -> str:
    view = redis_topology.cluster_nodes((redis_topology.HOST, port))
    return next(n.node_id for n in view if "myself" in n.flags)


async def hit(client: RedisClusterClient, key: str, limit: int, now: bool = False) -> list[Any]:
    """One counter call; `now`: through `evalsha_now` (written at once, redirections handed
    to the full path) instead of `evalsha`."""
    member = uuid.uuid4().hex
    call = client.evalsha_now if now else client.evalsha
    reply = await call(LIMITED_COUNTER, [key], (limit, member))
    assert isinstance(reply, list)
    assert reply[2] == member.encode()
    return reply


async def test_runs_the_script_on_the_masters_of_the_keys(redis_cluster: Any,
                                                         on_loop: Any) -> None:
    async def body() -> None:
        client = client_for(redis_cluster)
        try:
            await client.initialize(LIMITED_COUNTER)
            assert len(client.masters) == 3
            keys = [f"t:{{cc:{uuid.uuid4().hex}}}" for _ in range(20)]
            replies = [await hit(client, key, 3) for key in keys for _ in range(4)]
            assert [r[0] for r in replies] == [1, 1, 1, 0] * 20
            assert [r[1] for r in replies] == [2, 1, 0, 0] * 20
            assert client.redirects == 0
            # 20 random slots: all three masters are used (chance of missing one ~ 0.03%)
            assert {redis_cluster.master_for_key(k) for k in keys} == {
                port for _, port in client.masters}
        finally:
            await client.aclose()

    await on_loop(body)


async def test_a_failed_ping_of_the_masters_rereads_the_slot_map(redis_cluster: Any,
                                                                on_loop: Any) -> None:
    """What the gateway's readiness probe relies on when it is the only Redis traffic: a
    master that moved (a container back at a new address) is found again."""
    async def body() -> None:
        client = client_for(redis_cluster, timeout=1.0, refresh_interval=0.0)
        try:
            await client.initialize()
            real = set(client.masters)
            moved, *others = list(real)
            gone = ("127.0.0.1", 9)  # one master "moved": the map still has its old address
            client.masters = {gone, *others}
            client.slots = [gone if owner == moved else owner for owner in client.slots]
            with pytest.raises(ConnectionRefusedError):
                await client.on_masters(b"PING")
            for _ in range(100):
                if client.masters == real:
                    break
                await asyncio.sleep(0.02)
            assert client.masters == real
            assert await client.on_masters(b"PING") == [b"PONG"] * 3
        finally:
            await client.aclose()

    await on_loop(body)


async def test_a_master_that_serves_no_slot_is_not_asked(redis_cluster: Any,
                                                        on_loop: Any) -> None:
    """Scale-in: a master that gave its last slot away (the map patched by MOVED, not yet
    re-read) and was then removed must not fail the readiness probe."""
    async def body() -> None:
        client = client_for(redis_cluster, timeout=1.0)
        try:
            await client.initialize()
            client.masters = {*client.masters, ("127.0.0.1", 9)}  # owns no slot any more
            assert await client.on_masters(b"PING", each=True) == [b"PONG"] * 3
        finally:
            await client.aclose()

    await on_loop(body)


async def test_calls_failed_by_aclose_start_no_new_slot_map_read(redis_cluster: Any,
                                                                 on_loop: Any) -> None:
    """A closed client stays closed: the calls its close fails are not "a node failed",
    so no background read (and no new connection) starts after it."""
    async def body() -> None:
        client = client_for(redis_cluster, timeout=1.0, refresh_interval=0.0)
        await client.initialize(LIMITED_COUNTER)
        read_before = client._refreshing
        in_flight = client.evalsha_now(LIMITED_COUNTER, ["t:{cc:closing}"],
                                       (3, uuid.uuid4().hex))
        await client.aclose()
        with pytest.raises(ConnectionError):
            await in_flight
        await asyncio.sleep(0)
        assert client._refreshing is read_before
        assert not client._connections
        assert not client._connecting

    await on_loop(body)


async def test_a_missing_script_is_loaded_with_eval(redis_cluster: Any, on_loop: Any) -> None:
    async def body() -> None:
        script = Script(f"-- {uuid.uuid4()}\nreturn {{KEYS[1], ARGV[1]}}")
        client = client_for(redis_cluster)
        try:
            assert await client.evalsha(script, ["t:{x}"], ["a"]) == [b"t:{x}", b"a"]
            assert await client.evalsha(script, ["t:{x}"], ["b"]) == [b"t:{x}", b"b"]
        finally:
            await client.aclose()

    await on_loop(body)


async def test_commands_and_multi_key_scripts_route_by_slot(redis_cluster: Any,
                                                           on_loop: Any) -> None:
    swap = Script("local v = redis.call('GET', KEYS[1]) "
                  "redis.call('SET', KEYS[2], v, 'PX', 60000) return redis.call('DEL', KEYS[1])")

    async def body() -> None:
        client = client_for(redis_cluster)
        tag = uuid.uuid4().hex
        first, second = f"t:{{{tag}}}:a", f"t:{{{tag}}}:b"
        try:
            assert await client.execute(first, "SET", first, "v1", "PX", 60000) == b"OK"
            assert await client.evalsha(swap, [first, second], []) == 1
            assert await client.execute(second, "GET", second) == b"v1"
            assert await client.execute(first, "EXISTS", first) == 0
            with pytest.raises(ValueError, match="hash tag"):
                await client.evalsha(swap, [first, f"t:{{other-{tag}}}"], [])
        finally:
            await client.aclose()

    await on_loop(body)


async def test_moved_repairs_the_slot_map(redis_cluster: Any, on_loop: Any) -> None:
    async def body() -> None:
        client = client_for(redis_cluster)
        key = f"t:{{moved:{uuid.uuid4().hex}}}"
        slot = key_slot(key.encode())
        try:
            await client.initialize(LIMITED_COUNTER)
            right = client.slots[slot]
            wrong = next(m for m in client.masters if m != right)
            client.slots[slot] = wrong
            assert (await hit(client, key, 5))[:2] == [1, 4]
            assert client.redirects == 1
            assert client.slots[slot] == right
            # Again through evalsha_now: written at once on the (open) connection to
            # `wrong`, whose MOVED hands the call to the full path.
            client.slots[slot] = wrong
            assert (await hit(client, key, 5, now=True))[:2] == [1, 3]
            assert client.redirects == 2
            assert client.slots[slot] == right
        finally:
            await client.aclose()

    await on_loop(body)


async def test_a_silent_node_times_out_and_is_disconnected(on_loop: Any) -> None:
    async def body() -> None:
        async def never_answer(reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
            await reader.read(-1)
            writer.close()

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = RedisClusterClient([("127.0.0.1", port)], timeout=0.2)
        client.slots = [("127.0.0.1", port)] * len(client.slots)  # as if it owned them all
        loop = asyncio.get_running_loop()
        try:
            for _ in range(2):  # the second time on a new connection
                started = loop.time()
                with pytest.raises(TimeoutError):
                    await client.evalsha(LIMITED_COUNTER, ["t:{silent}"], (1, "m"))
                assert loop.time() - started < 1.0
        finally:
            await client.aclose()
            server.close()

    await on_loop(body)


@pytest.mark.fault
async def test_exact_counts_while_the_slot_migrates(
        redis_cluster_factory: Callable[[], Any], on_loop: Any) -> None:
    """The migration `redis-cli --cluster rebalance` does, for one slot, with bursts in
    every phase: before, while MIGRATING/IMPORTING (key still on the source; then moved:
    ASK), and after (MOVED). One copy of each key, and exactly `limit` allowed."""
    cluster = redis_cluster_factory()

    async def body() -> None:
        moved_key = "t:{mig:10.0.0.1}"
        new_key = "t:{mig:10.0.0.1}:new"  # same slot, first used while the slot is importing
        slot = key_slot(moved_key.encode())
        source = cluster.master_for_key(moved_key)
        target = next(p for p in cluster.masters() if p != source)
        source_conn, target_conn = cluster.client(source), cluster.client(target)
        client = client_for(cluster)
        allowed = {moved_key: 0, new_key: 0}

        async def burst(key: str, n: int) -> None:
            replies = await asyncio.gather(*(hit(client, key, 40, now=i % 2 == 0)
                                             for i in range(n)))
            allowed[key] += sum(r[0] for r in replies)

        try:
            await client.initialize(LIMITED_COUNTER)
            await burst(moved_key, 10)
            target_conn.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(source))
            source_conn.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(target))
            await burst(moved_key, 10)  # the key is still on the source: served there
            admin = cluster.admin  # MIGRATE logs in to the target itself
            source_conn.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "AUTH2",
                                        admin.username, admin.password, "KEYS", moved_key)
            await asyncio.gather(burst(moved_key, 15), burst(new_key, 30))  # ASK -> target
            asking_redirects = client.redirects
            others = [p for p in cluster.masters() if p not in (source, target)]
            for port in (target, source, *others):
                cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE",
                                                     node_id(target))
            await asyncio.gather(burst(moved_key, 25), burst(new_key, 30))  # MOVED
            print(f"\nallowed {allowed}, redirects {client.redirects} "
                  f"({asking_redirects} during the migration)")
            assert allowed == {moved_key: 40, new_key: 40}
            assert asking_redirects >= 45
            assert client.slots[slot] == ("127.0.0.1", target)
            assert source_conn.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0
            assert target_conn.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 2
        finally:
            await client.aclose()
            source_conn.close()
            target_conn.close()

    await on_loop(body)


async def test_the_calls_of_one_loop_turn_leave_in_one_write() -> None:
    """Auto-pipelining: N calls made before the loop turns cost one write, in call order."""
    writes: list[bytes] = []

    class RecordingTransport:
        def write(self, data: bytes) -> None:
            writes.append(data)

        def abort(self) -> None:
            pass

        def is_closing(self) -> bool:
            return False

    connection = NodeConnection(("127.0.0.1", 1), timeout=5.0)
    connection.connection_made(RecordingTransport())  # type: ignore[arg-type]
    calls = [connection.call(encode("ECHO", str(n))) for n in range(3)]
    assert writes == []
    await asyncio.sleep(0)
    assert writes == [b"".join(encode("ECHO", str(n)) for n in range(3))]
    connection.data_received(b"$1\r\n0\r\n$1\r\n1\r\n$1\r\n2\r\n")
    assert [call.result() for call in calls] == [b"0", b"1", b"2"]
    connection.close()


async def replicas_listed(client: RedisClusterClient) -> None:
    """Until the slot map lists a replica of every master: CLUSTER SLOTS leaves out a
    replica whose replication offset is still 0 (a fresh cluster before any write)."""
    for key in (f"t:{{warm:{n}}}" for n in range(30)):  # a write on every master
        await client.execute(key, "SET", key, 1)

    async def listed() -> bool:
        await client.refresh()
        return len(client.masters) == 3 and set(client.replica_counts.values()) == {1}

    await poll(listed, 30, "every master's replica in CLUSTER SLOTS")


async def test_a_replicated_write_is_on_the_replica_when_answered(redis_cluster: Any,
                                                                  on_loop: Any) -> None:
    async def body() -> None:
        client = client_for(redis_cluster)
        try:
            await replicas_listed(client)
            keys = [f"t:{{rep:{uuid.uuid4().hex}}}" for _ in range(12)]
            for key in keys:
                result = await client.evalsha_replicated(LIMITED_COUNTER, [key],
                                                         (5, "m"), timeout_ms=2000)
                assert result.reply == [1, 4, b"m"]
                assert (result.replicas, result.waited) == (1, True)
                # Answered means replicated: the replica has the write already.
                master = redis_cluster.master_for_key(key)
                replica = redis_cluster.replicas_of(master)[0]
                on_replica = redis_topology.client(
                    (redis_topology.HOST, replica)).pipeline(transaction=False)
                on_replica.execute_command("READONLY").get(key)  # one connection
                assert on_replica.execute() == [True, "1"]
            assert client.replica_counts == {master: 1 for master in client.masters}
        finally:
            await client.aclose()

    await on_loop(body)


async def test_a_replicated_write_with_a_frozen_replica_is_answered_after_the_wait(
        redis_cluster: Any) -> None:
    """WAIT gives up after its timeout: the write stands on the master and is reported as
    unacknowledged; the connection, which WAIT held, is not taken for a dead one."""
    client = client_for(redis_cluster, timeout=0.25)
    key = f"t:{{rep:{uuid.uuid4().hex}}}"
    try:
        await replicas_listed(client)
        master = redis_cluster.master_for_key(key)
        replica = redis_cluster.replicas_of(master)[0]
        await client.evalsha(LIMITED_COUNTER, [key], (0, "m"))  # opens the connection
        connection = client._connections[(redis_topology.HOST, master)]
        redis_cluster.pause_node(replica)
        try:
            # 400 ms of WAIT on a connection whose replies are overdue after 250 ms.
            result = await client.evalsha_replicated(LIMITED_COUNTER, [key], (5, "m"),
                                                     timeout_ms=400)
        finally:
            redis_cluster.resume_node(replica)
        assert result.reply == [1, 4, b"m"]
        assert (result.replicas, result.waited) == (0, True)
        assert client._connections[(redis_topology.HOST, master)] is connection
        assert not connection.closed
        assert (await hit(client, key, 5))[:2] == [1, 3]
    finally:
        await client.aclose()
