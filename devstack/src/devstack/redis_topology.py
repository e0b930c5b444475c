"""Reading a Redis Cluster's topology node by node (CLUSTER INFO / CLUSTER NODES / ROLE).

Plain single-node connections on purpose: fault tests need to ask each node what *it*
believes, including while the cluster is degraded, which a cluster client hides. A node
is reached at an address (host, port): 127.0.0.1 and its port natively, its container's
address and 6379 in the compose stack.

Nodes refuse unauthenticated clients (the default user is off), so these helpers log in
as the cluster's admin user: whoever starts or finds a cluster tells this module which
login its nodes take (`remember_login`), the way ~/.pgpass tells psql.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.crc import key_slot

from devstack.processes import ProcessError
from devstack.redis_acl import Login

HOST = "127.0.0.1"
Address = tuple[str, int]


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES as seen by some node."""

    node_id: str
    host: str  # the IP as announced ("" while the node does not know its own)
    port: int
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...] = field(default=())
    # cluster-announce-hostname (None: it announces none): what CLUSTER SLOTS, MOVED and
    # ASK name instead of the IP with cluster-preferred-endpoint-type hostname.
    hostname: str | None = None

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool({"fail", "fail?", "handshake", "noaddr"} & self.flags)

    def owns(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.slots)


# The admin login per node address, and the one used for any other address (the compose
# stack's nodes change address when their containers restart).
_logins: dict[Address, Login] = {}
_any_address: list[Login] = []


def remember_login(login: Login, addresses: list[Address] | None = None) -> None:
    """Use `login` for these node addresses (None: for every address not named)."""
    if addresses is None:
        _any_address[:] = [login]
    else:
        _logins.update(dict.fromkeys(addresses, login))


def login_for(address: Address) -> Login | None:
    return _logins.get(address) or (_any_address[0] if _any_address else None)


def client(address: Address, timeout: float = 1.0) -> redis.Redis:
    # Short timeouts: a SIGSTOPped node must not hang a helper.
    host, port = address
    login = login_for(address)
    return redis.Redis(host=host, port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True,
                       username=login.username if login else None,
                       password=login.password if login else None)


def ping(address: Address) -> bool:
    try:
        with client(address) as conn:
            return bool(conn.ping())
    except redis.RedisError:
        return False


def cluster_info(address: Address) -> dict[str, str]:
    with client(address) as conn:
        raw = str(conn.execute_command("CLUSTER", "INFO"))
    pairs = (line.split(":", 1) for line in raw.splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


def parse_address(field: str) -> tuple[str, int, str | None]:
    """(ip, port, hostname) of a CLUSTER NODES address: `ip:port@cport`, and with a
    hostname announced `ip:port@cport,hostname`. Any further `,name=value` items (the
    shard-id and the like that nodes.conf carries since Redis 7.2) are skipped."""
    address, *extra = field.split(",")
    host, _, port = address.split("@", 1)[0].rpartition(":")
    hostname = extra[0] if extra and extra[0] and "=" not in extra[0] else None
    return host, int(port), hostname


def parse_cluster_nodes(raw: str) -> list[ClusterNode]:
    nodes = []
    for line in raw.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        host, port, hostname = parse_address(parts[1])
        slots = []
        for item in parts[8:]:
            if item.startswith("["):  # slot being migrated/imported: not owned yet
                continue
            lo, _, hi = item.partition("-")
            slots.append((int(lo), int(hi or lo)))
        nodes.append(ClusterNode(
            node_id=parts[0],
            host=host,
            port=port,
            flags=frozenset(parts[2].split(",")),
            master_id=None if parts[3] == "-" else parts[3],
            connected=parts[7] == "connected",
            slots=tuple(slots),
            hostname=hostname,
        ))
    return nodes


def cluster_nodes(address: Address) -> list[ClusterNode]:
    with client(address) as conn:
        return parse_cluster_nodes(str(conn.execute_command("CLUSTER", "NODES")))


def role(address: Address) -> str:
    """'master' or 'replica' as the node itself reports it (ROLE)."""
    with client(address) as conn:
        reply = conn.execute_command("ROLE")
    return "master" if reply[0] == "master" else "replica"


def replication_link_up(address: Address) -> bool:
    with client(address) as conn:
        info = conn.info("replication")
    return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")


def slot_for_key(key: str) -> int:
    return int(key_slot(key.encode()))


def master_for_slot(view: list[ClusterNode], slot: int) -> ClusterNode | None:
    for node in view:
        if node.is_master and node.owns(slot):
            return node
    return None


def healthy_problems(address: Address, size: int) -> list[str]:
    """Why the node at `address` does not (yet) see a healthy cluster of `size` nodes."""
    info = cluster_info(address)
    problems = []
    if info.get("cluster_state") != "ok":
        problems.append(f"cluster_state:{info.get('cluster_state')}")
    if info.get("cluster_known_nodes") != str(size):
        problems.append(f"known_nodes:{info.get('cluster_known_nodes')}")
    if info.get("cluster_slots_ok") != "16384":
        problems.append(f"slots_ok:{info.get('cluster_slots_ok')}")
    view = cluster_nodes(address)
    masters = [n for n in view if n.is_master and n.slots and not n.failing]
    replicas = [n for n in view if "slave" in n.flags and not n.failing]
    if len(masters) != size // 2 or len(replicas) != size - size // 2:
        problems.append(f"masters:{len(masters)} replicas:{len(replicas)}")
    if any(not n.connected and "myself" not in n.flags for n in view):
        problems.append("links not all connected")
    if role(address) == "replica" and not replication_link_up(address):
        problems.append("replication link down")
    return problems


def until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until true (a Redis or socket error counts as not yet); ProcessError
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
