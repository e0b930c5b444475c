"""A small asyncio Redis Cluster client: Lua scripts and single-slot commands on masters.

Why not redis-py's RedisCluster (docs/decisions/0004-gateway-redis-client.md, with the
figures): it spends two to three times our CPU per EVALSHA, and during a slot migration
its asyncio client sends `ASKING` and the redirected command on different pooled
connections, which lets the importing node create a second copy of a key (an
over-admitting rate limit, or a refresh-token family living on two nodes).

Here every node has one pipelined connection; a redirected call sends `ASKING` and the
command in one write on the same connection, so the flag always applies to our command.
The slot map comes from `CLUSTER SLOTS`, is patched in place by `MOVED`, and is
re-read (at most once per `refresh_interval`) after a `MOVED` or a connection failure.
Nodes are keyed by the endpoint the cluster names (an IP or an announced hostname, see
`_endpoints`); a hostname is resolved on every connect, never remembered as an IP.
With credentials, every connection authenticates (`AUTH`) before it carries anything,
whichever path opened it (start-up, a `MOVED`/`ASK` to a node not met before, a
promoted replica), and it may run over TLS.
Errors: `OSError`/`TimeoutError` (node unreachable or silent; `AuthenticationError`, a
`ConnectionError`, when a node refuses the credentials), `ReplyError` (an error reply
that is not a redirection, e.g. `NOPERM`), `ClusterUnavailable` (no slot map, no master)."""

import asyncio
import hashlib
import random
import ssl
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.crc import key_slot

from shared._logging import get_logger
from shared._tracing import tracing_enabled
from shared._transport import CombiningTransport
from shared.redis._endpoints import Address, redirect_address, slot_map_node
from shared.redis._resp import Arg, ProtocolError, ReplyError, ReplyParser, encode, encode_many

_log = get_logger("redis")

SLOTS = 16384
MAX_REDIRECTS = 5
# How often a master without a replica in the slot map has the map re-read (replicated
# writes only), so a replica that (re)joined is waited on again.
REPLICA_RECHECK_SECONDS = 5.0


def _copy_outcome(source: "asyncio.Future[object]", target: "asyncio.Future[object]") -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())


def _script_call(script: "Script", keys: Sequence[str], args: Iterable[Arg]
                 ) -> tuple[int, tuple[Arg, ...], tuple[Arg, ...]]:
    """(slot, the EVALSHA command, the EVAL command sent instead where the node lacks the
    script) for one call of `script`."""
    encoded = [key.encode() for key in keys]
    slot = _one_slot(encoded)
    tail = (len(encoded), *encoded, *args)
    return slot, (b"EVALSHA", script.sha, *tail), (b"EVAL", script.source, *tail)


def _one_slot(keys: Sequence[bytes]) -> int:
    if not keys:
        raise ValueError("a cluster script needs at least one key to be routed by")
    slot = key_slot(keys[0])
    if any(key_slot(key) != slot for key in keys[1:]):
        raise ValueError("keys of one script must share a slot (use a {hash tag})")
    return slot


class ClusterUnavailable(Exception):
    """No slot map could be read, or the key's slot has no master."""


class AuthenticationError(ConnectionError):
    """A node refused the client's credentials (`WRONGPASS`, a disabled user): the
    connection is closed; nothing else was sent on it."""


class Credentials:
    """An ACL user and its password, sent as `AUTH` on every new connection. The
    password stays out of `repr` (and so out of logs and tracebacks)."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str) -> None:
        if not password:
            raise ValueError("Redis credentials need a password")
        self.username = username
        self.password = password

    def command(self) -> bytes:
        if not self.username:  # a requirepass server: the legacy one-argument form
            return encode(b"AUTH", self.password)
        return encode(b"AUTH", self.username, self.password)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


class _Pending:
    """A call waiting on a connection: its future, the replies still to read for it (a
    pipelined call such as ASKING + EVALSHA has two), when it was sent, and the first
    error reply among its replies (or every reply, when the caller wants them all)."""

    __slots__ = ("error", "future", "kept", "replies", "sent_at")

    def __init__(self, future: "asyncio.Future[object]", replies: int, sent_at: float,
                 keep: bool = False) -> None:
        self.future = future
        self.replies = replies
        self.sent_at = sent_at
        self.error: ReplyError | None = None
        self.kept: list[object] | None = [] if keep else None


class NodeConnection(asyncio.Protocol):
    """One TCP connection to one node; replies come back in the order commands went out,
    so each waiting caller is a future in a FIFO. A command unanswered after `timeout`
    seconds aborts the connection (a frozen node must not hold callers forever)."""

    def __init__(self, address: Address, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self.closed = False
        self._transport: CombiningTransport | None = None
        self._parser = ReplyParser()
        self._waiting: deque[_Pending] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._suspect: _Pending | None = None  # an overdue call, looked at once more
        self._loop = asyncio.get_running_loop()

    @classmethod
    async def open(cls, address: Address, reply_within: float, *,
                   credentials: Credentials | None = None,
                   tls: ssl.SSLContext | None = None) -> "NodeConnection":
        """Connect (over TLS with `tls`) and authenticate with `credentials`, within
        `reply_within` seconds each. The connection is handed out only once its `AUTH`
        succeeded, so no caller's command can ever share a write with it or take its
        reply."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(reply_within):
            _, protocol = await loop.create_connection(lambda: cls(address, reply_within),
                                                       *address, ssl=tls)
        if credentials is not None:
            try:
                await protocol._authenticate(credentials)
            except BaseException:  # refused, silent or cancelled: never left half-open
                protocol.close()
                raise
        return protocol

    async def _authenticate(self, credentials: Credentials) -> None:
        reply = await self.call(credentials.command())
        if isinstance(reply, ReplyError):
            host, port = self.address
            raise AuthenticationError(f"Redis node {host}:{port} refused AUTH as user "
                                      f"{credentials.username or '(default)'!r}: {reply}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        # Auto-pipelining: the calls of one loop turn (many requests' limiter scripts under
        # load) leave in one write, and the node reads and answers them in one go.
        self._transport = CombiningTransport(cast(asyncio.Transport, transport), self._loop)

    def call(self, payload: bytes, replies: int = 1, *, all_replies: bool = False,
             blocks_for: float = 0.0) -> "asyncio.Future[object]":
        """Send `payload` (holding `replies` commands); the future gets the last reply, or
        the first error reply among them (`all_replies`: the list of every reply).
        `blocks_for`: how long the node may legitimately hold the reply (a WAIT's timeout),
        added to the time a reply is overdue."""
        future = self._loop.create_future()
        if self.closed or self._transport is None:
            future.set_exception(ConnectionError(f"connection to {self.address} closed"))
            return future
        self._waiting.append(
            _Pending(future, replies, self._loop.time() + blocks_for, all_replies))
        self._transport.write(payload)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self.timeout, self._check_overdue)
        return future

    def data_received(self, data: bytes) -> None:
        self._parser.feed(data)
        try:
            replies = self._parser.replies()
        except (ProtocolError, ValueError) as exc:
            self._fail(ProtocolError(str(exc)))
            return
        for reply in replies:
            if not self._waiting:
                self._fail(ProtocolError("reply without a command"))
                return
            pending = self._waiting[0]
            pending.replies -= 1
            if pending.kept is not None:
                pending.kept.append(reply)
            elif isinstance(reply, ReplyError) and pending.error is None:
                pending.error = reply  # the first error of a pipelined call wins
            if pending.replies == 0:
                self._waiting.popleft()
                if not pending.future.done():
                    if pending.kept is not None:
                        pending.future.set_result(pending.kept)
                    else:
                        pending.future.set_result(pending.error or reply)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        oldest = self._waiting[0]
        overdue_at = oldest.sent_at + self.timeout
        now = self._loop.time()
        if now < overdue_at:
            self._watchdog = self._loop.call_at(overdue_at, self._check_overdue)
        elif oldest is not self._suspect:
            # uvloop runs timers before it polls for I/O: after a busy stretch the reply
            # may be waiting in the socket already. Look again after one more poll.
            self._suspect = oldest
            self._watchdog = self._loop.call_later(0.001, self._check_overdue)
        else:
            self._fail(TimeoutError(f"no reply from {self.address} in {self.timeout} s"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection to {self.address} lost: {exc}"))

    def _fail(self, error: Exception) -> None:
        """Close for good and fail every waiting caller: after a lost reply the order of
        the remaining ones can no longer be trusted."""
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            future = self._waiting.popleft().future
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        self._fail(ConnectionError("client closed"))


@dataclass(frozen=True, slots=True)
class Replicated:
    """A write's reply and how many replicas acknowledged it (`waited`: False when the
    master had no replica to wait for)."""

    reply: object
    replicas: int
    waited: bool


class Script:
    """A Lua script called by its SHA1, loaded with EVAL when a node does not have it."""

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()


class RedisClusterClient:
    """Routes scripts and single-slot commands to the master of their slot."""

    def __init__(self, startup_nodes: Iterable[Address], *, timeout: float,
                 refresh_interval: float = 0.5, credentials: Credentials | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        # With tracing on (OTEL_* environment), a CLIENT span per command.
        self._tracer: Any = None
        if tracing_enabled():
            from opentelemetry import trace

            self._tracer = trace.get_tracer("shared.redis")
        self.startup_nodes = list(startup_nodes)
        self.timeout = timeout
        self.credentials = credentials
        self.tls = tls
        self.refresh_interval = refresh_interval
        self.slots: list[Address | None] = [None] * SLOTS
        self.masters: set[Address] = set()
        # Replicas CLUSTER SLOTS lists for each master (it leaves failed ones out): a write
        # is only waited on (WAIT) where there is a replica to acknowledge it.
        self.replica_counts: dict[Address, int] = {}
        self.known: set[Address] = set(self.startup_nodes)
        self.redirects = 0  # MOVED and ASK replies followed (for tests and metrics)
        self._connections: dict[Address, NodeConnection] = {}
        self._connecting: dict[Address, asyncio.Task[NodeConnection]] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._refreshed_at = float("-inf")
        self._closed = False

    # --- connections -------------------------------------------------------------

    async def _connection(self, address: Address) -> NodeConnection:
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return connection
        pending = self._connecting.get(address)
        if pending is None:  # one connect per node, however many callers wait for it
            pending = asyncio.ensure_future(NodeConnection.open(
                address, self.timeout, credentials=self.credentials, tls=self.tls))
            self._connecting[address] = pending
            pending.add_done_callback(lambda task: self._connected(address, task))
        return await asyncio.shield(pending)

    def _connected(self, address: Address, task: "asyncio.Task[NodeConnection]") -> None:
        self._connecting.pop(address, None)
        if not task.cancelled() and task.exception() is None:
            self._connections[address] = task.result()

    async def _call(self, address: Address, payload: bytes, replies: int = 1, *,
                    all_replies: bool = False, blocks_for: float = 0.0) -> object:
        try:
            connection = await self._connection(address)
        except (OSError, TimeoutError):
            self._refresh_soon()
            raise
        return await self._watched(connection.call(payload, replies, all_replies=all_replies,
                                                   blocks_for=blocks_for))

    def _watched(self, sent: "asyncio.Future[object]") -> "asyncio.Future[object]":
        """A call on a node's connection whose failure (a dead, frozen or moved node; not
        an error reply) has the slot map re-read soon: the one place for it."""
        sent.add_done_callback(self._after_call)
        return sent

    def _after_call(self, sent: "asyncio.Future[object]") -> None:
        if not sent.cancelled() and sent.exception() is not None:
            self._refresh_soon()

    # --- topology ----------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the slot map again (one read at a time; callers share it)."""
        if self._refreshing is None or self._refreshing.done():
            self._start_refresh()
        assert self._refreshing is not None
        await asyncio.shield(self._refreshing)

    def _refresh_soon(self) -> None:
        """A background re-read after MOVED or a failure, at most once per interval."""
        if self._closed:  # the calls that aclose() failed must not start a new read
            return
        if self._refreshing is not None and not self._refreshing.done():
            return
        if time.monotonic() - self._refreshed_at < self.refresh_interval:
            return
        self._start_refresh()

    def _start_refresh(self) -> None:
        # Runs to the end even when every caller stops waiting (shielded), and its
        # outcome is always retrieved, so nobody is told about an unobserved failure.
        self._refreshing = asyncio.ensure_future(self._read_slot_map())
        self._refreshing.add_done_callback(
            lambda task: task.cancelled() or task.exception())

    async def _read_slot_map(self) -> None:
        self._refreshed_at = time.monotonic()
        # Masters first (they know the latest epoch best), then anything else we know.
        candidates = list(self.masters)
        random.shuffle(candidates)
        others = [node for node in self.known | set(self.startup_nodes)
                  if node not in self.masters]
        random.shuffle(others)
        errors = []
        for node in candidates + others:
            try:
                reply = await self._call(node, encode("CLUSTER", "SLOTS"))
                if isinstance(reply, ReplyError):
                    raise reply
                self._apply_slot_map(node, reply)
                return
            except (OSError, TimeoutError, ReplyError, ProtocolError, ClusterUnavailable,
                    ValueError) as exc:  # this node cannot tell: ask the next one
                errors.append(f"{node[0]}:{node[1]} {type(exc).__name__}")
        _log.warning("redis_slot_map_unavailable", errors=errors)
        raise ClusterUnavailable("no node answered CLUSTER SLOTS: " + ", ".join(errors))

    def _apply_slot_map(self, queried: Address, reply: object) -> None:
        if not isinstance(reply, list) or not reply:
            raise ClusterUnavailable(f"{queried} has no slots assigned")
        slots: list[Address | None] = [None] * SLOTS
        masters = set()
        replica_counts: dict[Address, int] = {}
        known = set(self.startup_nodes)
        nameless = []
        for entry in reply:
            if not isinstance(entry, list) or len(entry) < 3:
                raise ValueError(f"unexpected CLUSTER SLOTS entry from {queried}: {entry!r}")
            start, end, master, *replicas = entry
            known.update(a for r in replicas if (a := slot_map_node(queried, r)) is not None)
            address = slot_map_node(queried, master)
            if address is None:  # its slots stay without a master until it has a name
                nameless.append(f"{start}-{end}")
                continue
            masters.add(address)
            replica_counts[address] = len(replicas)
            known.add(address)
            for slot in range(start, end + 1):
                slots[slot] = address
        if nameless:
            _log.warning("redis_master_without_endpoint", slots=nameless,
                         queried=f"{queried[0]}:{queried[1]}")
        if masters != self.masters:  # a failover, a new shard, or the first read
            _log.info("redis_masters", masters=sorted(f"{h}:{p}" for h, p in masters),
                      previous=sorted(f"{h}:{p}" for h, p in self.masters))
        self.slots = slots
        self.masters = masters
        self.replica_counts = replica_counts
        # Forget addresses the cluster no longer has (containers come back at new ones), so
        # a later re-read does not wait on each of them, and drop their connections.
        self.known = known
        for address in [a for a in self._connections if a not in known]:
            self._connections.pop(address).close()
        # A demoted master keeps its connection: it answers MOVED, which patches the map.

    async def _master_for(self, slot: int) -> Address:
        address = self.slots[slot]
        if address is None:
            await self.refresh()
            address = self.slots[slot]
            if address is None:
                raise ClusterUnavailable(f"slot {slot} has no master")
        return address

    # --- commands ----------------------------------------------------------------

    async def evalsha(self, script: Script, keys: Sequence[str], args: Iterable[Arg]) -> object:
        """Run `script` on the master of its keys' slot (every key must share one slot,
        e.g. through a `{hash tag}`), loading it with EVAL where a node lacks it."""
        slot, command, on_noscript = _script_call(script, keys, args)
        return await self._traced("EVALSHA", slot, command, on_noscript)

    async def evalsha_replicated(self, script: Script, keys: Sequence[str],
                                 args: Iterable[Arg], *, timeout_ms: int) -> "Replicated":
        """`evalsha` for a write that must survive its master's loss: `WAIT 1 timeout_ms`
        goes in the same write, on the same connection, so it covers this script; the
        reply comes once a replica has the write (or the timeout passed). Replication is
        asynchronous, so without it a write acknowledged just before a master dies may be
        missing on the replica promoted in its place."""
        slot, command, on_noscript = _script_call(script, keys, args)
        reply = await self._traced("EVALSHA", slot, command, on_noscript, wait_ms=timeout_ms)
        assert isinstance(reply, Replicated)
        return reply

    def evalsha_now(self, script: Script, keys: Sequence[str],
                    args: Iterable[Arg]) -> "asyncio.Future[object]":
        """`evalsha`, started before this returns: when the slot's master is connected the
        command is queued on its connection at once (no task: the limiter's hot path; it
        leaves with the loop turn's other calls), and only a redirection, a missing script
        or a failure takes the full path."""
        slot, command, on_noscript = _script_call(script, keys, args)
        address = self.slots[slot]
        connection = self._connections.get(address) if address is not None else None
        if address is None or connection is None or connection.closed \
                or self._tracer is not None:
            return asyncio.ensure_future(self._traced("EVALSHA", slot, command, on_noscript))
        sent_now = self._watched(connection.call(encode(*command)))
        result: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def settle(sent: "asyncio.Future[object]") -> None:
            reply = None if sent.cancelled() or sent.exception() else sent.result()
            if not isinstance(reply, ReplyError):  # an answer or a failure: as it is
                _copy_outcome(sent, result)
                return
            # Every error reply (redirection, NOSCRIPT, ...) is the full path's to handle.
            full = asyncio.ensure_future(self._routed(slot, command, on_noscript,
                                                      first=(address, reply)))
            full.add_done_callback(lambda done: _copy_outcome(done, result))

        sent_now.add_done_callback(settle)
        return result

    async def execute(self, key: str, *command: Arg) -> object:
        """Run a single-slot command (e.g. `DEL key`) on the master of `key`'s slot."""
        slot = key_slot(key.encode())
        name = command[0]
        name = name.decode() if isinstance(name, bytes) else str(name)
        return await self._traced(name.upper(), slot, command)

    async def _traced(self, name: str, slot: int, command: Sequence[Arg],
                      on_noscript: Sequence[Arg] | None = None,
                      wait_ms: int | None = None) -> object:
        if self._tracer is None:
            return await self._routed(slot, command, on_noscript, wait_ms=wait_ms)
        from opentelemetry.trace import SpanKind

        with self._tracer.start_as_current_span(
                name, kind=SpanKind.CLIENT,
                attributes={"db.system": "redis", "db.operation": name}):
            return await self._routed(slot, command, on_noscript, wait_ms=wait_ms)

    def _has_replica(self, address: Address) -> bool:
        """Whether the slot map lists a replica of `address` to wait for (WAIT)."""
        if self.replica_counts.get(address, 0) > 0:
            return True
        # CLUSTER SLOTS leaves out failed replicas and ones that have not synced yet (a
        # fresh cluster with no writes): look again now and then for one that is back.
        if time.monotonic() - self._refreshed_at > REPLICA_RECHECK_SECONDS:
            self._refresh_soon()
        return False

    async def _send_replicated(self, address: Address, prefix: list[tuple[Arg, ...]],
                               command: Sequence[Arg], wait_ms: int) -> object:
        """`command` then `WAIT 1 wait_ms` in one write: the command's reply, or a
        Replicated (the reply and the replicas that acknowledged) once it succeeded."""
        replies = await self._call(
            address, encode_many([*prefix, tuple(command), (b"WAIT", 1, wait_ms)]),
            len(prefix) + 2, all_replies=True, blocks_for=wait_ms / 1000)
        assert isinstance(replies, list)
        reply, acknowledged = replies[-2], replies[-1]
        if isinstance(reply, ReplyError):
            return reply
        if not isinstance(acknowledged, int):
            # WAIT itself refused (an ACL user without it, say): nothing is confirmed, and
            # an operator must hear of it, since every such write now goes unreplicated.
            _log.error("redis_wait_refused", node=f"{address[0]}:{address[1]}",
                       error=str(acknowledged)[:200])
            return Replicated(reply, 0, True)
        return Replicated(reply, acknowledged, True)

    async def _routed(self, slot: int, command: Sequence[Arg],
                      on_noscript: Sequence[Arg] | None,
                      first: tuple[Address, ReplyError] | None = None,
                      wait_ms: int | None = None) -> object:
        """Send `command` to the slot's master, following MOVED and ASK (ASKING goes in the
        same write, on the same connection, so the flag applies to this command). `first`:
        the command was sent already, and this node answered with this error. `wait_ms`:
        pipeline a WAIT behind it (evalsha_replicated)."""
        ask_target: Address | None = None
        reply: object
        for _ in range(MAX_REDIRECTS):
            if first is not None:
                (address, reply), first = first, None
            else:
                address = ask_target or await self._master_for(slot)
                prefix: list[tuple[Arg, ...]] = [(b"ASKING",)] if ask_target is not None else []
                if wait_ms is not None and self._has_replica(address):
                    reply = await self._send_replicated(address, prefix, command, wait_ms)
                else:
                    reply = await self._call(address, encode_many([*prefix, command]), 2) \
                        if prefix else await self._call(address, encode(*command))
                    if wait_ms is not None and not isinstance(reply, ReplyError):
                        reply = Replicated(reply, 0, False)  # nobody to wait for
            if not isinstance(reply, ReplyError):
                return reply
            kind = reply.kind
            if kind == "MOVED":
                self.redirects += 1
                ask_target = None
                # A target without a name ("?:6379") leaves the slot to the next map read,
                # which _master_for awaits: the map may give the node's IP instead.
                self.slots[slot] = redirect_address(address, reply)
                self._refresh_soon()
            elif kind == "ASK":
                self.redirects += 1
                ask_target = redirect_address(address, reply)
                if ask_target is None:  # the importing node cannot be reached by name
                    raise ClusterUnavailable(f"slot {slot} is importing on a node with "
                                             f"no endpoint: {reply}")
            elif kind == "NOSCRIPT" and on_noscript is not None:
                command, on_noscript = on_noscript, None  # EVAL also caches the script
            elif kind == "TRYAGAIN":  # a multi-key command while its slot migrates
                await asyncio.sleep(0.01)
            else:
                if kind == "CLUSTERDOWN":
                    self._refresh_soon()
                raise reply
        raise ClusterUnavailable(f"too many redirects for slot {slot}")

    async def on_masters(self, *command: Arg, each: bool = False) -> list[object]:
        """Send one command to every master; raise on the first failure or error reply,
        or with `each`, return every master's reply or exception in its place (a probe
        that reports what the masters that answered say while one does not)."""
        if not self.masters:
            await self.refresh()
        payload = encode(*command)
        # Only masters that still serve a slot: one that gave its last slot away (the map
        # patched by MOVED, not re-read since) is leaving the cluster (scale-in), and a
        # readiness probe must not fail on it once it is gone.
        serving = set(self.slots)
        masters = [m for m in self.masters if m in serving] or list(self.masters)
        # A master that moved or died has the map re-read (`_call`), so a gateway whose
        # only Redis calls are readiness probes finds the cluster again.
        replies = await asyncio.gather(*(self._call(m, payload) for m in masters),
                                       return_exceptions=each)
        if each:
            return list(replies)
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    async def initialize(self, script: Script | None = None) -> None:
        """Read the slot map, and load `script` on every master."""
        await self.refresh()
        if script is not None:
            await self.on_masters(b"SCRIPT", b"LOAD", script.source)

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._refreshing, *self._connecting.values()):
            if task is not None:
                task.cancel()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
