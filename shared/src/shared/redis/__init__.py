"""The Redis Cluster client (opt-in): slot routing, MOVED/ASK, auto-pipelining, scripts,
over our own RESP codec (docs/decisions/0004)."""

from shared.redis._cluster import ClusterUnavailable, NodeConnection, RedisClusterClient, Script
from shared.redis._commands import ClusterCommands
from shared.redis._factory import create_cluster_client, parse_nodes
from shared.redis._resp import Arg, ProtocolError, ReplyError, ReplyParser, encode, encode_many

__all__ = [
    "Arg",
    "ClusterCommands",
    "ClusterUnavailable",
    "NodeConnection",
    "ProtocolError",
    "RedisClusterClient",
    "ReplyError",
    "ReplyParser",
    "Script",
    "create_cluster_client",
    "encode",
    "encode_many",
    "parse_nodes",
]
