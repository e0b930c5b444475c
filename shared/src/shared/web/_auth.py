"""The one bearer-principal dependency: every FastAPI service reads and refuses access
tokens exactly as the gateway does (shared._bearer)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security.base import SecurityBase

from shared._bearer import bearer_challenge, bearer_token
from shared._jwt import JwtVerifier, Principal, TokenError
from shared._problems import ProblemError


def unauthorized(code: str, detail: str) -> ProblemError:
    """A 401 with the RFC 6750 challenge for `code`."""
    return ProblemError(401, code, detail,
                        headers={"WWW-Authenticate": bearer_challenge(code)})


def bearer_principal(
    verifier_of: Callable[[Request], JwtVerifier], scheme: SecurityBase
) -> Callable[..., Awaitable[Principal]]:
    """A dependency giving the verified caller; 401 `missing_token` or the verifier's code
    (`token_revoked` among them), 503 `revocation_unavailable` when it cannot tell.

    `scheme` (with auto_error=False) only documents the security scheme in OpenAPI (the
    "Authorize" button); the header itself is read by the same parser the gateway uses."""

    async def principal(request: Request,
                        _documented: Annotated[Any, Security(scheme)]) -> Principal:
        try:
            token = bearer_token(request.headers.get("authorization"))
            return await verifier_of(request).verify(token)
        except TokenError as exc:
            if exc.status == 503:  # revocation state unknown: fail closed, retry soon
                raise ProblemError(503, exc.code, exc.detail,
                                   headers={"Retry-After": "1"}) from None
            raise unauthorized(exc.code, exc.detail) from None

    return principal
