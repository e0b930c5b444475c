"""The public signing keys, for every verifier (gateway, user service)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from auth_service.deps import ResourcesDep
from auth_service.schemas import Jwks

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(resources: ResourcesDep) -> JSONResponse:
    """Public keys (current and previous) that verify access tokens."""
    max_age = resources.settings.JWKS_MAX_AGE_SECONDS
    return JSONResponse(
        resources.keys.ring.jwks(),
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )
