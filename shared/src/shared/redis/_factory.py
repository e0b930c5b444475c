"""Connecting to the Redis Cluster: the seed list and a client with a timeout that suits a
request path (a frozen node never holds a caller longer than `timeout`)."""

from shared.redis._cluster import RedisClusterClient


def parse_nodes(spec: str) -> list[tuple[str, int]]:
    """'host:port,host:port' -> [(host, port), ...]."""
    nodes = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        nodes.append((host or "127.0.0.1", int(port)))
    if not nodes:
        raise ValueError("no Redis nodes configured")
    return nodes


def create_cluster_client(nodes: str, *, timeout: float = 0.25) -> RedisClusterClient:
    """The project's cluster client (shared.redis) for `nodes`, the discovery seed list."""
    return RedisClusterClient(parse_nodes(nodes), timeout=timeout)
