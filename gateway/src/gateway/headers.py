"""Header hygiene in both directions, done in one pass over the ASGI header list.

Hop-by-hop headers (RFC 9110 §7.6.1) and anything a client could use to claim an
identity or a client address are dropped before the gateway adds its own."""

from dataclasses import dataclass, field

Header = tuple[bytes, bytes]

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"proxy-authenticate", b"proxy-authorization",
})
# Set by the gateway itself (or meaningless upstream once the body is re-framed).
_REQUEST_OWN = frozenset({
    b"host", b"content-length", b"expect", b"x-request-id", b"forwarded", b"x-real-ip",
    b"x-client-ip", b"true-client-ip", b"cf-connecting-ip",
})
# Identity and forwarding claims only the gateway may make.
_REQUEST_FORGEABLE_PREFIXES = (
    b"x-user", b"x-authenticated", b"x-auth-", b"x-internal", b"x-forwarded-",
    b"x-original-", b"x-remote-", b"x-roles", b"x-service-",
)
_RESPONSE_OWN = frozenset({
    b"content-length", b"date", b"server", b"x-request-id", b"ratelimit", b"ratelimit-policy",
    b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset",
})


@dataclass(slots=True)
class RequestHeaders:
    """What the gateway needs from the client's headers, and what may be forwarded."""

    forward: list[Header] = field(default_factory=list)
    request_id: str | None = None
    authorization: bytes | None = None
    forwarded_for: str | None = None
    forwarded_proto: str | None = None
    content_lengths: list[bytes] = field(default_factory=list)
    transfer_encoding: bytes | None = None
    size: int = 0


def _tokens(value: bytes) -> set[bytes]:
    return {token.strip().lower() for token in value.split(b",") if token.strip()}


def scan_request(raw: list[Header]) -> RequestHeaders:
    """Classify the client's headers; `forward` is what goes upstream as-is."""
    out = RequestHeaders()
    forward = out.forward
    named: set[bytes] | None = None
    size = 0
    for name, value in raw:
        size += len(name) + len(value) + 4
        if name in HOP_BY_HOP:
            if name == b"connection":
                named = _tokens(value) if named is None else named | _tokens(value)
            elif name == b"transfer-encoding":
                out.transfer_encoding = value if out.transfer_encoding is None \
                    else out.transfer_encoding + b"," + value
            continue
        if name in _REQUEST_OWN:
            if name == b"content-length":
                out.content_lengths.append(value)
            elif name == b"x-request-id" and out.request_id is None:
                out.request_id = value.decode("latin-1")
            continue
        if name.startswith(_REQUEST_FORGEABLE_PREFIXES):
            if name == b"x-forwarded-for":
                out.forwarded_for = value.decode("latin-1") if out.forwarded_for is None \
                    else f"{out.forwarded_for},{value.decode('latin-1')}"
            elif name == b"x-forwarded-proto":
                out.forwarded_proto = value.decode("latin-1")
            continue
        if name == b"authorization":
            out.authorization = value
        forward.append((name, value))
    out.size = size
    if named:
        # Headers the client declared hop-by-hop in Connection must not travel further.
        out.forward = [(n, v) for n, v in forward if n not in named]
    return out


def response_headers(raw: tuple[Header, ...] | list[Header]) -> list[Header]:
    """Upstream response headers minus hop-by-hop ones and those the gateway sets."""
    named: set[bytes] = set()
    for name, value in raw:
        if name.lower() == b"connection":
            named |= _tokens(value)
    out: list[Header] = []
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in _RESPONSE_OWN or lower in named:
            continue
        out.append((lower, value))
    return out
