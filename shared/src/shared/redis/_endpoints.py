"""Where the cluster says a node is: the endpoints of `CLUSTER SLOTS` and of `MOVED`/`ASK`.

A node's endpoint is what its `cluster-preferred-endpoint-type` makes it: its IP (the
default), the hostname it announces (`cluster-announce-hostname`, e.g. a StatefulSet
pod's DNS name in docs/kubernetes.md), or nothing ("unknown-endpoint", behind a load
balancer). Redis gives three odd values (the CLUSTER SLOTS reference): nil and "" mean
"the host you reached me on"; "?" means the node should announce a hostname but has
none, so it names *no* host, not the queried one. For "?" we take the IP the reply's
metadata carries (Redis 7 lists the non-preferred addresses after the node's ID), and
without one the node cannot be reached until the cluster knows its name.

An endpoint stays a name: it is resolved when a connection opens, every time, so a pod
back at a new IP is found by the next connect (docs/decisions/0007)."""

from shared.redis._resp import ReplyError

Address = tuple[str, int]

_UNKNOWN = b"?"


def slot_map_node(queried: Address, node: object) -> Address | None:
    """The address of one node entry of a CLUSTER SLOTS reply read from `queried`
    ([endpoint, port, id, metadata]); None: the node has no usable endpoint."""
    if not isinstance(node, list) or len(node) < 2 or not isinstance(node[1], int):
        raise ValueError(f"unexpected node in CLUSTER SLOTS: {node!r}")
    endpoint, port = node[0], node[1]
    if endpoint is None or endpoint == b"":
        return queried[0], port
    if not isinstance(endpoint, bytes):
        raise ValueError(f"unexpected node in CLUSTER SLOTS: {node!r}")
    if endpoint == _UNKNOWN:
        ip = _metadata(node).get(b"ip")
        return (ip.decode(), port) if ip and ip != _UNKNOWN else None
    return endpoint.decode(), port


def _metadata(node: list[object]) -> dict[bytes, bytes]:
    """The node's other addresses (RESP2: a flat list of names and values)."""
    flat = node[3] if len(node) > 3 and isinstance(node[3], list) else []
    pairs = zip(flat[::2], flat[1::2], strict=False)
    return {k: v for k, v in pairs if isinstance(k, bytes) and isinstance(v, bytes)}


def redirect_address(asked: Address, reply: ReplyError) -> Address | None:
    """The node a `MOVED`/`ASK` reply from `asked` sends us to ("MOVED 3999 host:6381");
    None when it names no host ("?:6381": the target's hostname is unknown)."""
    target = str(reply.args[0]).split(" ")[2]
    host, _, port = target.rpartition(":")
    if host == "?":
        return None
    return host or asked[0], int(port)
