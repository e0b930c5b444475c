"""The reader side of the revocation log (`_revocation_log`): a feed every verifier runs
for its lifetime, and the in-memory set a verifier checks each token against.

The feed has a connection of its own to the master of the stream's slot (never the
cluster client's pipelined per-node connection: a blocking read there would hold up every
call queued behind it) and loops on `XREAD COUNT n BLOCK ms STREAMS rev:{log} <last id>`.
XREAD returns every entry after the ID it is given, so one that starts reads from
"now - retention" and one that reconnects reads on from the last ID it saw: nothing is
missed across a partition or a failover (an append is acknowledged by a replica, WAIT).
A MOVED reply, a lost or silent connection, or a failover has it look the master up
again (CLUSTER SLOTS) and reconnect, with doubling backoff.

Checking a token is two dict lookups (`RevocationSet`), no round trip. The feed is
*current* while its last reply is at most `max_staleness` old (healthy, a reply arrives
at least every `block_ms`); a verifier whose feed is not current fails closed
(RevocationUnavailable: 503), since it cannot know what was revoked meanwhile. So a
revocation is honoured within about one round trip while connected, and no token
revoked more than `max_staleness` ago is ever accepted (docs/revocation.md)."""

import asyncio
import random
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Literal

from redis.crc import key_slot

from shared._jwt import Principal, RevocationUnavailable, TokenError
from shared._logging import get_logger
from shared._revocation_settings import RevocationSettings
from shared._settings import RedisSettings
from shared.redis._cluster import Credentials, NodeConnection
from shared.redis._endpoints import Address, redirect_address, slot_map_node
from shared.redis._factory import parse_nodes
from shared.redis._resp import ReplyError, encode
from shared.redis._revocation_log import REVOCATION_STREAM, Revocation
from shared.redis._revocation_set import RevocationSet

_log = get_logger("revocations")

_SLOT = key_slot(REVOCATION_STREAM.encode())
# Entries per read: a catch-up after a long partition comes in slices of this many.
_COUNT = 1000
# Read a little further back than the retention at start: our clock may run ahead of
# the server's, whose clock stamps the entries' IDs.
_START_MARGIN_MS = 60_000
_FIRST_RETRY_SECONDS = 0.05
_MAX_RETRY_SECONDS = 2.0

FeedState = Literal["starting", "current", "stale"]


def _entries(reply: object) -> list[tuple[bytes, list[object] | None]]:
    """(id, flat field list) of an XREAD reply (nil: no entries)."""
    if reply is None:
        return []
    if not isinstance(reply, list) or not reply or not isinstance(reply[0], list):
        raise ValueError(f"unexpected XREAD reply: {reply!r:.200}")
    _stream, entries = reply[0]
    out = []
    for entry in entries:
        entry_id, fields = entry
        out.append((entry_id, fields))
    return out


def nodes_in(queried: Address, reply: object) -> list[Address]:
    """Every node (masters and replicas) a CLUSTER SLOTS reply from `queried` names."""
    found: list[Address] = []
    if not isinstance(reply, list):
        return found
    for entry in reply:
        if not isinstance(entry, list):
            continue
        for node in entry[2:]:
            address = _node(queried, node)
            if address is not None:
                found.append(address)
    return found


def master_of_slot(queried: Address, reply: object, slot: int) -> Address | None:
    """The master serving `slot` in a CLUSTER SLOTS reply from `queried`."""
    if not isinstance(reply, list):
        return None
    for entry in reply:
        if isinstance(entry, list) and len(entry) >= 3 and entry[0] <= slot <= entry[1]:
            return _node(queried, entry[2])
    return None


def _node(queried: Address, node: object) -> Address | None:
    try:
        return slot_map_node(queried, node)
    except ValueError:  # an entry we cannot read: the next node may tell better
        return None


class RevocationFeed:
    """Follows the revocation log into `revocations` for as long as `run()` runs, and is
    the verifiers' RevocationCheck (shared.JwtVerifier(revocations=...))."""

    def __init__(self, startup_nodes: Iterable[Address], *, retention_seconds: int,
                 max_staleness_seconds: float, block_ms: int = 1000, timeout: float = 1.0,
                 credentials: Credentials | None = None, tls: ssl.SSLContext | None = None,
                 grace_seconds: int = 10,
                 on_revocation: Callable[[Revocation], None] | None = None) -> None:
        self.startup_nodes = list(startup_nodes)
        self.retention_seconds = retention_seconds
        self.max_staleness = max_staleness_seconds
        self.block_ms = block_ms
        self.timeout = timeout
        self.credentials = credentials
        self.tls = tls
        self.on_revocation = on_revocation
        self.revocations = RevocationSet(grace_seconds)
        self.received = 0  # entries read (metrics)
        self.reconnects = 0
        self.connected = False
        self.caught_up = False  # the log was read to its end at least once
        self.first_caught_up = asyncio.Event()  # set then (start-up waits on it)
        self.last_id = ""  # the last entry's ID; "" until the first read
        self.synced_at = float("-inf")  # monotonic time of the last reply
        self.master: Address | None = None
        self._known: list[Address] = list(self.startup_nodes)
        self._pruned_at = 0.0

    # --- what verifiers ask ---------------------------------------------------------

    @property
    def state(self) -> FeedState:
        if not self.caught_up:
            return "starting"
        return "current" if self.lag_seconds <= self.max_staleness else "stale"

    @property
    def lag_seconds(self) -> float:
        """Seconds since the log last answered (0 right after a reply)."""
        return max(0.0, time.monotonic() - self.synced_at)

    def check(self, principal: Principal) -> None:
        if self.revocations.revoked(principal.session_id, principal.subject,
                                    principal.issued_at):
            raise TokenError("token_revoked", "Token has been revoked")
        if not self.caught_up or time.monotonic() - self.synced_at > self.max_staleness:
            raise RevocationUnavailable()

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the log until cancelled (a background task); never raises otherwise."""
        failures = 0
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    failures = 0
                self.connected = False
                failures += 1
                delay = min(_FIRST_RETRY_SECONDS * 2 ** min(failures - 1, 10),
                            _MAX_RETRY_SECONDS) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
                _log.warning("revocation_feed_reconnecting", error=type(exc).__name__,
                             detail=str(exc)[:200], failures=failures,
                             retry_in=round(delay, 3), last_id=self.last_id,
                             state=self.state)
                self.reconnects += 1
                await asyncio.sleep(delay)
            finally:
                self.connected = False

    def _start_id(self) -> str:
        if self.last_id:
            return self.last_id
        start_ms = int(time.time() * 1000) - self.retention_seconds * 1000 - _START_MARGIN_MS
        return f"{max(0, start_ms)}-0"

    async def _follow(self) -> None:
        address = self.master or await self._find_master()
        try:
            # Inside the try: a master named by MOVED that cannot be reached (or resolved)
            # is forgotten, not tried again forever.
            connection = await NodeConnection.open(address, self.timeout,
                                                   credentials=self.credentials, tls=self.tls)
        except BaseException:
            self.master = None
            raise
        try:
            while True:
                command = encode(b"XREAD", b"COUNT", _COUNT, b"BLOCK", self.block_ms,
                                 b"STREAMS", REVOCATION_STREAM, self._start_id())
                reply = await connection.call(command, blocks_for=self.block_ms / 1000)
                if isinstance(reply, ReplyError):
                    if reply.kind == "MOVED":  # a failover or a resharding moved the slot
                        # (None, a target without a name: CLUSTER SLOTS finds it again.)
                        self.master = redirect_address(address, reply)
                    else:
                        self.master = None
                    raise reply
                if not self.connected:
                    _log.info("revocation_feed_connected", node=f"{address[0]}:{address[1]}",
                              from_id=self._start_id())
                self.connected = True
                self.master = address
                entries = _entries(reply)
                self._apply(entries)
                if len(entries) < _COUNT:  # read to the end: we know all there is
                    self.synced_at = time.monotonic()
                    if not self.caught_up:
                        self.caught_up = True
                        self.first_caught_up.set()
        except BaseException:
            self.master = None if self.master == address else self.master
            raise
        finally:
            connection.close()

    def _apply(self, entries: list[tuple[bytes, list[object] | None]]) -> None:
        now = time.time()
        for entry_id, flat in entries:
            self.last_id = entry_id.decode()
            if not flat:  # an entry deleted under us
                continue
            values = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
            try:
                revocation = Revocation.from_fields(dict(zip(values[::2], values[1::2],
                                                             strict=True)))
            except (ValueError, KeyError) as exc:
                _log.warning("revocation_entry_skipped", id=self.last_id, error=str(exc))
                continue
            self.received += 1
            if self.revocations.add(revocation, now) and self.on_revocation is not None:
                self.on_revocation(revocation)
        if now - self._pruned_at >= 1.0:
            self._pruned_at = now
            self.revocations.prune(now)

    async def _find_master(self) -> Address:
        """Ask known nodes, one after the other, who serves the stream's slot."""
        errors = []
        for node in list(dict.fromkeys(self._known + self.startup_nodes)):
            try:
                connection = await NodeConnection.open(node, self.timeout,
                                                       credentials=self.credentials,
                                                       tls=self.tls)
                try:
                    reply = await connection.call(encode(b"CLUSTER", b"SLOTS"))
                finally:
                    connection.close()
            except (OSError, TimeoutError) as exc:
                errors.append(f"{node[0]}:{node[1]} {type(exc).__name__}")
                continue
            master = master_of_slot(node, reply, _SLOT)
            if master is not None:
                # Remember the whole cluster: a seed list of one node must not be the only
                # way back after that node dies.
                self._known = list(dict.fromkeys([master, *nodes_in(node, reply),
                                                  *self._known]))
                return master
            errors.append(f"{node[0]}:{node[1]} no master for slot {_SLOT}")
        raise ConnectionError("no node named the revocation log's master: " + ", ".join(errors))


def revocation_feed_from_settings(redis: RedisSettings, feed: RevocationSettings, *,
                                  grace_seconds: int = 10,
                                  on_revocation: Callable[[Revocation], None] | None = None
                                  ) -> RevocationFeed:
    """The feed a service's settings describe: the cluster's seeds, ACL user and TLS
    (REDIS_*), and the REVOCATION_* settings; `grace_seconds`: the JWT leeway."""
    password = redis.redis_password
    return RevocationFeed(
        parse_nodes(redis.REDIS_NODES), retention_seconds=feed.REVOCATION_RETENTION_SECONDS,
        max_staleness_seconds=feed.REVOCATION_MAX_STALENESS_SECONDS,
        block_ms=feed.REVOCATION_BLOCK_MS,
        # Not a request path: a slow connect or catch-up read may take longer.
        timeout=max(redis.REDIS_SOCKET_TIMEOUT_MS / 1000, 1.0),
        credentials=Credentials(redis.REDIS_USERNAME, password) if password else None,
        tls=redis.redis_ssl_context(), grace_seconds=grace_seconds,
        on_revocation=on_revocation)
