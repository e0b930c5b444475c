"""Which of the user service's listeners a request came in on (INTERNAL_PORT).

With INTERNAL_PORT set the process listens twice: the public routes on PORT, the internal
API (/internal/*) on INTERNAL_PORT. A NetworkPolicy or firewall works on ports, so this is
what lets it admit only the auth service to the internal API. Each router checks its
listener first, before any credential, and answers a route of the other listener with the
same 404 as an unknown path: the public port tells nothing about the internal API. Health
endpoints and the OpenAPI document answer on both (probes, the auth service's readiness)."""

from fastapi import Request
from starlette.exceptions import HTTPException


def _internal_port(request: Request) -> int:
    port: int = request.app.state.settings.INTERNAL_PORT
    return port


def _arrived_on(request: Request) -> int | None:
    server = request.scope.get("server")  # (host, port) of the socket that accepted it
    return int(server[1]) if server else None


def _not_found() -> HTTPException:
    # Starlette's own "no such route": the answer an unknown path gets, by the same handler.
    return HTTPException(404)


async def internal_listener_only(request: Request) -> None:
    port = _internal_port(request)
    if port and _arrived_on(request) != port:
        raise _not_found()


async def public_listener_only(request: Request) -> None:
    port = _internal_port(request)
    if port and _arrived_on(request) == port:
        raise _not_found()
