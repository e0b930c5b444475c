"""CORS at the edge: which browser origins may call the API, decided once per request from
headers compiled at start-up.

Preflights are answered here and never forwarded (they carry no token, and the services
know nothing of CORS). The exposed headers include the rate-limit ones, so a page can read
a 429's Retry-After. With no origins configured the gateway sends no CORS header at all."""

from collections.abc import Iterable

from gateway.headers import Header

# What a page may read besides the CORS-safelisted response headers.
EXPOSED_HEADERS = b"X-Request-ID, RateLimit, RateLimit-Policy, Retry-After"
_ANY = "*"


def _tokens(text: str) -> list[str]:
    return [token.strip() for token in text.split(",") if token.strip()]


def parse_origins(text: str) -> tuple[str, ...]:
    """Exact origins (`scheme://host[:port]`, no path) or `*`; comma-separated."""
    origins = _tokens(text)
    for origin in origins:
        if origin == _ANY:
            continue
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise ValueError(f"CORS origin {origin!r} is not scheme://host[:port]")
    if _ANY in origins and len(origins) > 1:
        raise ValueError("CORS_ALLOWED_ORIGINS is either * or a list of exact origins")
    return tuple(origins)


class CorsPolicy:
    """Compiled from settings; `None` in the gateway when no origin is allowed."""

    def __init__(self, origins: Iterable[str], methods: str, headers: str,
                 allow_credentials: bool, max_age: int) -> None:
        self.origins = frozenset(origin.encode() for origin in origins)
        self.any_origin = self.origins == {b"*"}
        if self.any_origin and allow_credentials:
            raise ValueError("CORS credentials are never allowed with origin *")
        self.methods = frozenset(method.upper() for method in _tokens(methods))
        self.headers = frozenset(header.lower() for header in _tokens(headers))
        shared: list[Header] = [(b"vary", b"Origin")]
        if allow_credentials:
            shared.append((b"access-control-allow-credentials", b"true"))
        self._answer = [*shared, (b"access-control-expose-headers", EXPOSED_HEADERS)]
        self._preflight = [
            *shared,
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode()),
            (b"access-control-allow-headers", ", ".join(sorted(self.headers)).encode()),
            (b"access-control-max-age", str(max_age).encode()),
        ]

    def allows(self, origin: bytes) -> bool:
        return self.any_origin or origin in self.origins

    def answer_headers(self, origin: bytes | None) -> list[Header]:
        """Headers for any answer to a request from `origin` (only Vary when not allowed)."""
        if origin is None or not self.allows(origin):
            return [(b"vary", b"Origin")]
        return [(b"access-control-allow-origin", b"*" if self.any_origin else origin),
                *self._answer]

    def preflight_problem(self, origin: bytes, method: bytes,
                          requested_headers: bytes | None) -> str | None:
        """Why a preflight is refused, or None when it is allowed."""
        if not self.allows(origin):
            return "This origin may not call the API"
        if method.decode("latin-1").upper() not in self.methods:
            return "This method is not allowed from a browser"
        asked = {token.strip().lower() for token in
                 (requested_headers or b"").decode("latin-1").split(",") if token.strip()}
        if not asked <= self.headers:
            return "A requested header is not allowed from a browser"
        return None

    def preflight_headers(self, origin: bytes) -> list[Header]:
        allow = b"*" if self.any_origin else origin
        return [(b"access-control-allow-origin", allow), *self._preflight]


def cors_request(headers: list[Header]) -> tuple[bytes | None, bytes | None, bytes | None]:
    """(Origin, Access-Control-Request-Method, Access-Control-Request-Headers); one pass,
    run only when CORS is configured."""
    origin = method = requested = None
    for name, value in headers:
        if name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            method = value
        elif name == b"access-control-request-headers":
            requested = value if requested is None else requested + b"," + value
    return origin, method, requested
