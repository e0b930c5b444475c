"""Which upstream (or own endpoint) a request goes to, decided on a path we trust.

A path is trusted only when its raw bytes decode to the same segments the router sees:
anything that could normalise differently here and in an upstream (encoded `/`, `\\` or
`.`, `//`, dot segments, control characters, double encoding) is refused instead of
being "fixed", so no spelling of a protected path can reach an upstream unchecked."""

import re
from dataclasses import dataclass
from enum import Enum

from shared import UNMATCHED_ROUTE

# RFC 3986 pchar plus '/', and '%' (checked separately below); nothing else is allowed raw.
_RAW_PATH = re.compile(rb"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*")
_PERCENT = re.compile(rb"%(..)?")
# Bytes that must never appear percent-encoded: unreserved characters (they have one
# canonical spelling), separators, '%' itself (double decoding) and control characters.
_NEVER_ENCODED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/\\%\x7f"
) | frozenset(range(0x20))
_HEX = frozenset(b"0123456789abcdefABCDEF")
_QUERY = re.compile(rb"[\x21-\x7e]*")


class Target(Enum):
    AUTH = "auth-service"
    USERS = "user-service"
    LIVE = "live"
    READY = "ready"


@dataclass(frozen=True, slots=True)
class Route:
    target: Target
    protected: bool  # a valid access token is required before forwarding


def path_problem(raw_path: bytes) -> str | None:
    """Why the raw request path is refused, or None when it is unambiguous."""
    if not _RAW_PATH.fullmatch(raw_path):
        return "Path contains characters that are not allowed"
    if b"//" in raw_path:
        return "Path contains an empty segment"
    padded = raw_path + b"/"
    if b"/./" in padded or b"/../" in padded:
        return "Path contains a dot segment"
    if b"%" in raw_path:
        for match in _PERCENT.finditer(raw_path):
            pair = match.group(1)
            if pair is None or pair[0] not in _HEX or pair[1] not in _HEX:
                return "Path contains a malformed percent-encoding"
            if int(pair, 16) in _NEVER_ENCODED:
                return "Path contains an ambiguous percent-encoding"
    return None


def query_problem(query: bytes) -> str | None:
    """Query strings are forwarded byte for byte, so only visible ASCII is accepted."""
    if query and not _QUERY.fullmatch(query):
        return "Query string contains characters that are not allowed"
    return None


class Router:
    """Exact public routes plus the `/users/` prefix; everything else is not found."""

    def __init__(self) -> None:
        auth = Route(Target.AUTH, protected=False)
        self._exact: dict[str, Route] = {
            "/health/live": Route(Target.LIVE, protected=False),
            "/health/ready": Route(Target.READY, protected=False),
            "/.well-known/jwks.json": auth,
            "/auth/register": auth,
            "/auth/login": auth,
            "/auth/refresh": auth,
            "/auth/logout": Route(Target.AUTH, protected=True),
            "/users": Route(Target.USERS, protected=True),
        }
        self._users = Route(Target.USERS, protected=True)

    def own(self, path: str) -> Route | None:
        """The gateway's own endpoint for `path` (exempt from rate limiting), if any."""
        route = self._exact.get(path)
        if route is not None and route.target in (Target.LIVE, Target.READY):
            return route
        return None

    def label(self, path: str) -> str:
        """The route template for metrics: bounded cardinality, whatever the path."""
        if path in self._exact or path == "/users/me":
            return path
        if path.startswith("/users/") and "/internal" not in path.lower():
            return "/users/{user_id}"
        return UNMATCHED_ROUTE

    def match(self, path: str) -> Route | None:
        """The route for an already validated, decoded path; None means 404."""
        # Internal APIs are never routed, whatever their case or position.
        if "/internal" in path.lower():
            return None
        route = self._exact.get(path)
        if route is not None:
            return route
        if path.startswith("/users/"):
            return self._users
        return None
