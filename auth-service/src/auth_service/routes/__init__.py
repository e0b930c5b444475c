"""HTTP routes of the auth service, and the translation of domain errors to problems."""

from auth_service.routes.account import router as account_router
from auth_service.routes.auth import router as auth_router
from auth_service.routes.jwks import router as jwks_router
from auth_service.routes.mfa import router as mfa_router
from auth_service.routes.problems import install_domain_errors
from auth_service.routes.sessions import router as sessions_router

__all__ = ["account_router", "auth_router", "install_domain_errors", "jwks_router",
           "mfa_router", "sessions_router"]
