"""Account lifecycle: email verification, password reset and change, email change.

Mailed links open pages; only these POSTs spend a token. The unauthenticated mail
endpoints answer 202 with one body whatever the address (no enumeration)."""

from typing import Any

from fastapi import APIRouter, Response

from auth_service.deps import ClientIp, CurrentPrincipal, ResourcesDep
from auth_service.schemas import (
    Accepted,
    EmailChangeRequest,
    EmailRequest,
    PasswordChangeRequest,
    PasswordResetRequest,
    TokenRequest,
)

router = APIRouter(prefix="/auth", tags=["account"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: _PROBLEM for status in statuses}


VERIFY_SENT = Accepted(detail="If the address belongs to an account that is not verified yet, "
                              "a verification link is on its way")
RESET_SENT = Accepted(detail="If the address belongs to an account, a link to reset its "
                             "password is on its way")
CHANGE_SENT = Accepted(detail="A confirmation link is on its way to the new address")


@router.post("/verify-email/request", status_code=202, response_model=Accepted,
             responses=_problems(401, 503))
async def request_verification(resources: ResourcesDep,
                               principal: CurrentPrincipal) -> Accepted:
    """Mail a new verification link to your address (nothing if it is verified)."""
    await resources.account.verification.request(principal.subject)
    return VERIFY_SENT


@router.post("/verify-email/resend", status_code=202, response_model=Accepted,
             responses=_problems(422, 429, 503))
async def resend_verification(body: EmailRequest, resources: ResourcesDep,
                              client_ip: ClientIp) -> Accepted:
    """Mail a verification link to an unverified account's address, without signing in;
    the same answer whether or not the address has an account."""
    await resources.account.verification.resend(body.email, client_ip)
    return VERIFY_SENT


@router.post("/verify-email", status_code=204, response_class=Response,
             responses=_problems(400, 422, 503))
async def verify_email(body: TokenRequest, resources: ResourcesDep) -> None:
    """Confirm the address with the mailed token (single use)."""
    await resources.account.verification.confirm(body.token)


@router.post("/password/forgot", status_code=202, response_model=Accepted,
             responses=_problems(422, 429, 503))
async def forgot_password(body: EmailRequest, resources: ResourcesDep,
                          client_ip: ClientIp) -> Accepted:
    """Mail a password-reset link; the same answer, and the same work, for any address."""
    await resources.account.password_reset.forgot(body.email, client_ip)
    return RESET_SENT


@router.post("/password/reset", status_code=204, response_class=Response,
             responses=_problems(400, 422, 503))
async def reset_password(body: PasswordResetRequest, resources: ResourcesDep) -> None:
    """Set a new password with the mailed token (single use; dead once the password has
    changed); every session of the account ends."""
    await resources.account.password_reset.reset(body.token, body.new_password)


@router.post("/password/change", status_code=204, response_class=Response,
             responses=_problems(401, 403, 422, 503))
async def change_password(body: PasswordChangeRequest, resources: ResourcesDep,
                          principal: CurrentPrincipal) -> None:
    """Change your password (the current one required); your other sessions end unless
    `sign_out_other_sessions` is false."""
    await resources.account.password_change(
        principal, body.current_password, body.new_password,
        sign_out_other_sessions=body.sign_out_other_sessions)


@router.post("/email/change", status_code=202, response_model=Accepted,
             responses=_problems(401, 403, 422, 503))
async def change_email(body: EmailChangeRequest, resources: ResourcesDep,
                       principal: CurrentPrincipal) -> Accepted:
    """Ask to change your address: a confirmation link goes to the new one."""
    await resources.account.email_change.request(principal, body.new_email,
                                                 body.current_password)
    return CHANGE_SENT


@router.post("/email/change/confirm", status_code=204, response_class=Response,
             responses=_problems(400, 409, 422, 503))
async def confirm_email_change(body: TokenRequest, resources: ResourcesDep) -> None:
    """Switch to the new address with the mailed token; the old address is told."""
    await resources.account.email_change.confirm(body.token)
