"""Request dependencies: the lifespan's resources, the caller's IP, User-Agent and bearer
principal."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from auth_service.resources import Resources
from shared import JwtVerifier, Principal
from shared.web import bearer_principal


# `async def` although they do no I/O: FastAPI runs plain `def` dependencies in a worker
# thread, a costly hop per request (profiled in the user service).
async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_client_ip(request: Request) -> str:
    """Resolved once per request by the request-context middleware (TRUSTED_PROXIES)."""
    client_ip: str | None = request.state.client_ip
    return client_ip or "unknown"


ClientIp = Annotated[str, Depends(get_client_ip)]
_USER_AGENT_MAX = 256


async def get_user_agent(request: Request) -> str:
    """The client's User-Agent as a session records it: cut short, no control characters."""
    value = request.headers.get("user-agent", "")[:_USER_AGENT_MAX]
    return "".join(c if c.isprintable() else " " for c in value)


UserAgent = Annotated[str, Depends(get_user_agent)]

# tokenUrl makes Swagger's "Authorize" button run the password flow against /auth/login.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


def _verifier(request: Request) -> JwtVerifier:
    resources: Resources = request.app.state.resources
    return resources.verifier


current_principal = bearer_principal(_verifier, _bearer)
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
