"""Reading a Redis Cluster's topology node by node (CLUSTER INFO / CLUSTER NODES / ROLE).

Plain single-node connections on purpose: fault tests need to ask each node what *it*
believes, including while the cluster is degraded, which a cluster client hides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from redis.crc import key_slot

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES as seen by some node."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...] = field(default=())

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool({"fail", "fail?", "handshake", "noaddr"} & self.flags)

    def owns(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.slots)


def client(port: int, timeout: float = 1.0) -> redis.Redis:
    # Short timeouts: a SIGSTOPped node must not hang a helper.
    return redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout, decode_responses=True)


def ping(port: int) -> bool:
    try:
        with client(port) as conn:
            return bool(conn.ping())
    except redis.RedisError:
        return False


def cluster_info(port: int) -> dict[str, str]:
    with client(port) as conn:
        raw = str(conn.execute_command("CLUSTER", "INFO"))
    pairs = (line.split(":", 1) for line in raw.splitlines() if ":" in line)
    return {key: value.strip() for key, value in pairs}


def parse_cluster_nodes(raw: str) -> list[ClusterNode]:
    nodes = []
    for line in raw.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split("@", 1)[0]
        slots = []
        for item in parts[8:]:
            if item.startswith("["):  # slot being migrated/imported: not owned yet
                continue
            lo, _, hi = item.partition("-")
            slots.append((int(lo), int(hi or lo)))
        nodes.append(ClusterNode(
            node_id=parts[0],
            port=int(address.rsplit(":", 1)[1]),
            flags=frozenset(parts[2].split(",")),
            master_id=None if parts[3] == "-" else parts[3],
            connected=parts[7] == "connected",
            slots=tuple(slots),
        ))
    return nodes


def cluster_nodes(port: int) -> list[ClusterNode]:
    with client(port) as conn:
        return parse_cluster_nodes(str(conn.execute_command("CLUSTER", "NODES")))


def role(port: int) -> str:
    """'master' or 'replica' as the node itself reports it (ROLE)."""
    with client(port) as conn:
        reply = conn.execute_command("ROLE")
    return "master" if reply[0] == "master" else "replica"


def replication_link_up(port: int) -> bool:
    with client(port) as conn:
        info = conn.info("replication")
    return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")


def slot_for_key(key: str) -> int:
    return int(key_slot(key.encode()))


def master_for_slot(view: list[ClusterNode], slot: int) -> ClusterNode | None:
    for node in view:
        if node.is_master and node.owns(slot):
            return node
    return None


def healthy_problems(port: int, size: int) -> list[str]:
    """Why the node at `port` does not (yet) see a healthy cluster of `size` nodes."""
    info = cluster_info(port)
    problems = []
    if info.get("cluster_state") != "ok":
        problems.append(f"cluster_state:{info.get('cluster_state')}")
    if info.get("cluster_known_nodes") != str(size):
        problems.append(f"known_nodes:{info.get('cluster_known_nodes')}")
    if info.get("cluster_slots_ok") != "16384":
        problems.append(f"slots_ok:{info.get('cluster_slots_ok')}")
    view = cluster_nodes(port)
    masters = [n for n in view if n.is_master and n.slots and not n.failing]
    replicas = [n for n in view if "slave" in n.flags and not n.failing]
    if len(masters) != size // 2 or len(replicas) != size - size // 2:
        problems.append(f"masters:{len(masters)} replicas:{len(replicas)}")
    if any(not n.connected and "myself" not in n.flags for n in view):
        problems.append("links not all connected")
    if role(port) == "replica" and not replication_link_up(port):
        problems.append("replication link down")
    return problems
