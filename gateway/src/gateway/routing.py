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


class _Template:
    """A route with `{name}` segments; its template is the limiter's and metrics' name."""

    __slots__ = ("route", "segments", "template")

    def __init__(self, template: str, route: Route) -> None:
        self.template = template
        self.route = route
        self.segments = template.split("/")

    def matches(self, parts: list[str]) -> bool:
        if len(parts) != len(self.segments):
            return False
        for part, segment in zip(parts, self.segments, strict=True):
            # A `{name}` segment: any one non-empty segment (the path is unambiguous by
            # now); the service decides whether it names anything.
            if segment.startswith("{"):
                if not part:
                    return False
            elif part != segment:
                return False
        return True


class Router:
    """Exact public routes, a few route templates, and the `/users/` prefix; everything
    else is not found."""

    def __init__(self) -> None:
        auth = Route(Target.AUTH, protected=False)
        auth_bearer = Route(Target.AUTH, protected=True)
        self._exact: dict[str, Route] = {
            "/health/live": Route(Target.LIVE, protected=False),
            "/health/ready": Route(Target.READY, protected=False),
            "/.well-known/jwks.json": auth,
            "/auth/register": auth,
            "/auth/login": auth,
            "/auth/refresh": auth,
            "/auth/logout": auth_bearer,
            "/auth/sessions": auth_bearer,
            # Account lifecycle (issue 17): the mailed-token POSTs and the unauthenticated
            # mail requests need no token; the signed-in owner's requests do.
            "/auth/verify-email": auth,
            "/auth/verify-email/resend": auth,
            "/auth/verify-email/request": auth_bearer,
            "/auth/password/forgot": auth,
            "/auth/password/reset": auth,
            "/auth/password/change": auth_bearer,
            "/auth/email/change": auth_bearer,
            "/auth/email/change/confirm": auth,
            # MFA (issue 18): the login's second step carries an mfa_token, not a bearer;
            # enrolment, its management and reauthentication are the signed-in owner's.
            "/auth/login/mfa": auth,
            "/auth/mfa/totp": auth_bearer,
            "/auth/mfa/totp/confirm": auth_bearer,
            "/auth/mfa/recovery-codes": auth_bearer,
            "/auth/reauthenticate": auth_bearer,
            # Account pages (issue 17) and their assets: public; a page's script reads
            # a mailed token from the fragment and POSTs it, sending the bearer itself.
            "/account": auth,
            "/account/verify": auth,
            "/account/reset": auth,
            "/account/email": auth,
            "/account/static/common.js": auth,
            "/account/static/links.js": auth,
            "/account/static/mfa.js": auth,
            "/account/static/account.js": auth,
            "/account/static/account.css": auth,
            "/users": Route(Target.USERS, protected=True),
        }
        # Admin rights are checked by the auth service (by the token and the account).
        self._templates = [
            _Template("/auth/sessions/{session_id}", auth_bearer),
            _Template("/auth/admin/users/{user_id}/sessions", auth_bearer),
            _Template("/auth/admin/users/{user_id}/sessions/{session_id}", auth_bearer),
            _Template("/auth/admin/users/{user_id}/mfa", auth_bearer),
        ]
        self._users = Route(Target.USERS, protected=True)

    def own(self, path: str) -> Route | None:
        """The gateway's own endpoint for `path` (exempt from rate limiting), if any."""
        route = self._exact.get(path)
        if route is not None and route.target in (Target.LIVE, Target.READY):
            return route
        return None

    def _template(self, path: str) -> _Template | None:
        if not path.startswith("/auth/") or "/internal" in path.lower():
            return None
        parts = path.split("/")
        for template in self._templates:
            if template.matches(parts):
                return template
        return None

    def label(self, path: str) -> str:
        """The route template for metrics and limiter policies: bounded cardinality,
        whatever the path."""
        if path in self._exact or path == "/users/me":
            return path
        template = self._template(path)
        if template is not None:
            return template.template
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
        template = self._template(path)
        if template is not None:
            return template.route
        if path.startswith("/users/"):
            return self._users
        return None
