"""What a client may cost a process: how long it may take to send a request, how many
connections it may hold, and how much unread input is drained before a connection closes.

nginx and Envoy are the references (client_header_timeout, client_body_timeout,
send_timeout, limit_conn, lingering_close; request_headers_timeout, max_connections). The
timers are deadlines on each connection, checked by one sweep per process a few times a
second, so a request pays an attribute write for them instead of scheduling and cancelling
event-loop timers. The
clock they read is the sweep's (`ConnectionGuard.now`), so each allowance adds one sweep
interval: a timeout fires between its value and its value plus two intervals."""

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared._settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float
    send_timeout: float
    max_connections: int
    max_connections_per_ip: int  # 0: no per-address cap
    linger_seconds: float
    linger_max_bytes: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> "ConnectionLimits":
        return cls(
            header_timeout=settings.HEADER_TIMEOUT_SECONDS,
            body_timeout=settings.BODY_TIMEOUT_SECONDS,
            keep_alive_timeout=settings.KEEP_ALIVE_TIMEOUT_SECONDS,
            send_timeout=settings.SEND_TIMEOUT_SECONDS,
            max_connections=settings.MAX_CONNECTIONS,
            max_connections_per_ip=settings.MAX_CONNECTIONS_PER_IP,
            linger_seconds=settings.LINGER_SECONDS,
            linger_max_bytes=settings.LINGER_MAX_BYTES,
        )

    @property
    def sweep_interval(self) -> float:
        """How often deadlines are checked: a quarter of the shortest, 50 ms to 1 s."""
        shortest = min(self.header_timeout, self.body_timeout, self.send_timeout,
                       self.linger_seconds)
        return min(1.0, max(0.05, shortest / 4))


class Guarded(Protocol):
    """A connection the guard watches: `deadline` is on the event loop's clock."""

    deadline: float

    def deadline_passed(self) -> None: ...


class Refusal(Exception):
    """Why a new connection is not served: answered 503 and closed at once."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class ConnectionGuard:
    """One per process: admits connections under the caps and acts on passed deadlines.

    `exempt_peer` names peers the per-address cap does not apply to: a load balancer or a
    trusted proxy carries many clients on one address."""

    def __init__(self, limits: ConnectionLimits,
                 exempt_peer: Callable[[str], bool] = lambda peer: False) -> None:
        self.limits = limits
        self._exempt_peer = exempt_peer
        self._watched: set[Guarded] = set()  # every open connection, refused ones too
        self._admitted: dict[Guarded, str] = {}  # connection -> peer address
        self._per_ip: dict[str, int] = {}
        self._sweeping = False
        self.now = 0.0  # the loop's clock at the last sweep or admission
        interval = limits.sweep_interval
        self.head_allowance = limits.header_timeout + interval
        self.body_allowance = limits.body_timeout + interval
        self.linger_allowance = limits.linger_seconds + interval
        self.send_allowance = limits.send_timeout + interval

    @property
    def open_connections(self) -> int:
        return len(self._admitted)

    def watch(self, connection: Guarded, loop: asyncio.AbstractEventLoop) -> None:
        """Act on `connection`'s deadline until `forget`."""
        self._watched.add(connection)
        self.now = loop.time()
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(self.limits.sweep_interval, self._sweep, loop)

    def admit(self, connection: Guarded, peer: str) -> None:
        """Count `connection` against the caps, or raise Refusal."""
        limits = self.limits
        if len(self._admitted) >= limits.max_connections:
            raise Refusal("server_busy", "Too many open connections; retry later")
        cap = limits.max_connections_per_ip
        held = self._per_ip.get(peer, 0)
        if cap and held >= cap and not self._exempt_peer(peer):
            raise Refusal("too_many_connections",
                          f"At most {cap} open connections per client address")
        self._admitted[connection] = peer
        self._per_ip[peer] = held + 1

    def forget(self, connection: Guarded) -> None:
        self._watched.discard(connection)
        peer = self._admitted.pop(connection, None)
        if peer is None:
            return
        held = self._per_ip[peer] - 1
        if held:
            self._per_ip[peer] = held
        else:
            del self._per_ip[peer]

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = self.now = loop.time()
        for connection in [c for c in self._watched if c.deadline <= now]:
            connection.deadline = math.inf
            connection.deadline_passed()
        if self._watched:
            loop.call_later(self.limits.sweep_interval, self._sweep, loop)
        else:
            self._sweeping = False
