"""MFA: the second step of a login, TOTP enrolment and its management, reauthentication
(step-up), and an administrator's reset. Flows and rules: docs/mfa.md."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from auth_service.deps import ClientIp, CurrentPrincipal, ResourcesDep, UserAgent
from auth_service.routes.auth import login_response
from auth_service.schemas import (
    AccessTokenResponse,
    LoginResponse,
    MfaCodeRequest,
    MfaDisableRequest,
    MfaLoginRequest,
    ReauthenticateRequest,
    RecoveryCodes,
    TotpEnrolmentResponse,
)

router = APIRouter(prefix="/auth", tags=["mfa"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
UserId = Annotated[uuid.UUID, Path(description="the user's id")]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: _PROBLEM for status in statuses}


@router.post("/login/mfa", response_model=LoginResponse,
             responses=_problems(401, 422, 429, 503))
async def login_mfa(body: MfaLoginRequest, response: Response, resources: ResourcesDep,
                    client_ip: ClientIp, user_agent: UserAgent) -> LoginResponse:
    """Complete a login with MFA: the login's `mfa_token` and a TOTP or recovery code
    (each works once) -> the usual token pair, a new session."""
    signed_in = await resources.mfa_login(body.mfa_token, body.code, client_ip, user_agent)
    return login_response(response, resources.settings, signed_in)


@router.post("/mfa/totp", response_model=TotpEnrolmentResponse,
             responses=_problems(401, 409, 503))
async def start_totp(resources: ResourcesDep,
                     principal: CurrentPrincipal) -> TotpEnrolmentResponse:
    """Start a TOTP enrolment (a pending secret; MFA is off until it is confirmed)."""
    enrolment = await resources.mfa.start(principal)
    return TotpEnrolmentResponse(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri,
                                 qr_code=enrolment.qr_code)


@router.post("/mfa/totp/confirm", response_model=RecoveryCodes,
             responses=_problems(401, 409, 422, 503))
async def confirm_totp(body: MfaCodeRequest, resources: ResourcesDep,
                       principal: CurrentPrincipal) -> RecoveryCodes:
    """Confirm the enrolment with a code of the app: MFA is on from here; the recovery
    codes are shown this once."""
    return RecoveryCodes(recovery_codes=await resources.mfa.confirm(principal, body.code))


@router.delete("/mfa/totp", status_code=204, response_class=Response,
               responses=_problems(401, 403, 409, 422, 429, 503))
async def disable_totp(body: MfaDisableRequest, resources: ResourcesDep,
                       principal: CurrentPrincipal, client_ip: ClientIp) -> None:
    """Turn MFA off (a recent second factor, and the password and a code again)."""
    await resources.mfa.disable(principal, body.password, body.code, client_ip)


@router.post("/mfa/recovery-codes", response_model=RecoveryCodes,
             responses=_problems(401, 403, 409, 503))
async def new_recovery_codes(resources: ResourcesDep,
                             principal: CurrentPrincipal) -> RecoveryCodes:
    """New recovery codes (a recent second factor needed); the old set dies."""
    return RecoveryCodes(recovery_codes=await resources.mfa.new_recovery_codes(principal))


@router.post("/reauthenticate", response_model=AccessTokenResponse,
             responses=_problems(400, 401, 403, 409, 422, 429, 503))
async def reauthenticate(body: ReauthenticateRequest, resources: ResourcesDep,
                         principal: CurrentPrincipal, client_ip: ClientIp) -> AccessTokenResponse:
    """Prove the factors again (step-up): a fresh access token of this session with a new
    `auth_time` (and `amr` with the code's method); its refreshes carry it too."""
    fresh = await resources.reauthenticate(principal, body.password, body.code, client_ip)
    return AccessTokenResponse(access_token=fresh.access_token, expires_in=fresh.expires_in)


@router.delete("/admin/users/{user_id}/mfa", status_code=204, response_class=Response,
               responses=_problems(401, 403, 404, 422, 503))
async def admin_reset_mfa(user_id: UserId, resources: ResourcesDep,
                          principal: CurrentPrincipal) -> None:
    """Turn a user's MFA off (admin; a lost device): every session of theirs ends."""
    await resources.mfa.admin_reset(principal, str(user_id))
