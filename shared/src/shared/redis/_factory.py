"""Connecting to the Redis Cluster: the seed list, the credentials and TLS of the settings,
and a client with a timeout that suits a request path (a frozen node never holds a caller
longer than `timeout`)."""

import ssl

from shared._settings import RedisSettings
from shared.redis._cluster import Credentials, RedisClusterClient


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


def create_cluster_client(nodes: str, *, timeout: float = 0.25,
                          credentials: Credentials | None = None,
                          tls: ssl.SSLContext | None = None) -> RedisClusterClient:
    """The project's cluster client (shared.redis) for `nodes`, the discovery seed list."""
    return RedisClusterClient(parse_nodes(nodes), timeout=timeout, credentials=credentials,
                              tls=tls)


def cluster_client_from_settings(settings: RedisSettings) -> RedisClusterClient:
    """The cluster client a service's settings describe: REDIS_NODES, the socket timeout,
    the ACL user (REDIS_USERNAME, REDIS_PASSWORD or REDIS_PASSWORD_FILE) and TLS."""
    password = settings.redis_password
    credentials = Credentials(settings.REDIS_USERNAME, password) if password else None
    return create_cluster_client(settings.REDIS_NODES,
                                 timeout=settings.REDIS_SOCKET_TIMEOUT_MS / 1000,
                                 credentials=credentials, tls=settings.redis_ssl_context())
