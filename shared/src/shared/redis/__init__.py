"""The Redis Cluster client (opt-in): slot routing, MOVED/ASK, auto-pipelining, scripts,
AUTH and TLS, over our own RESP codec (docs/decisions/0004); the revocation log and the
feed verifiers follow it with (docs/revocation.md)."""

from shared.redis._cluster import (
    AuthenticationError,
    ClusterUnavailable,
    Credentials,
    NodeConnection,
    RedisClusterClient,
    Replicated,
    Script,
)
from shared.redis._commands import ClusterCommands
from shared.redis._factory import cluster_client_from_settings, create_cluster_client, parse_nodes
from shared.redis._resp import Arg, ProtocolError, ReplyError, ReplyParser, encode, encode_many
from shared.redis._revocation_feed import RevocationFeed, revocation_feed_from_settings
from shared.redis._revocation_log import (
    REVOCATION_STREAM,
    Revocation,
    RevocationKind,
    append_revocation,
)
from shared.redis._revocation_set import RevocationSet

__all__ = [
    "REVOCATION_STREAM",
    "Arg",
    "AuthenticationError",
    "ClusterCommands",
    "ClusterUnavailable",
    "Credentials",
    "NodeConnection",
    "ProtocolError",
    "RedisClusterClient",
    "Replicated",
    "ReplyError",
    "ReplyParser",
    "Revocation",
    "RevocationFeed",
    "RevocationKind",
    "RevocationSet",
    "Script",
    "append_revocation",
    "cluster_client_from_settings",
    "create_cluster_client",
    "encode",
    "encode_many",
    "parse_nodes",
    "revocation_feed_from_settings",
]
