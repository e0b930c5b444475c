"""HTTP routes of the auth service."""

from auth_service.routes.auth import router as auth_router
from auth_service.routes.jwks import router as jwks_router

__all__ = ["auth_router", "jwks_router"]
