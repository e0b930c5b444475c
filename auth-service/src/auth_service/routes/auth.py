"""Register, login, refresh, logout."""

from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from auth_service.config import Settings
from auth_service.deps import ClientIp, CurrentPrincipal, ResourcesDep, UserAgent
from auth_service.schemas import (
    Accepted,
    LoginRequest,
    LoginResponse,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserPublic,
)
from auth_service.use_cases.login import SignIn
from shared import ProblemError
from shared.emails import normalise_email

router = APIRouter(prefix="/auth", tags=["auth"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string", "description": "e-mail"},
                               "password": {"type": "string", "format": "password"},
                               "device_token": {"type": "string", "maxLength": 256}},
            }},
        },
    }
}


# The device token (auth_service.throttle): a client that shows it is known to the account.
DEVICE_COOKIE = "device_token"
DeviceCookie = Annotated[str | None, Cookie(
    alias=DEVICE_COOKIE, description="device token of an earlier login to this account")]
_DEVICE_COOKIE_SET: dict[str, Any] = {"headers": {"Set-Cookie": {
    "description": f"`{DEVICE_COOKIE}=<device token>; Max-Age=...; Path=/auth; HttpOnly; "
                   "Secure; SameSite=Strict`",
    "schema": {"type": "string"},
}}}


REGISTER_ACCEPTED = Accepted(detail="If the address can be registered, a mail to it tells "
                                     "what to do next")


@router.post("/register", status_code=201, response_model=UserPublic,
             responses={202: {"model": Accepted,
                              "description": "REGISTRATION_ENUMERATION_SAFE on: the same body "
                                             "whether or not the address was free"},
                        409: _PROBLEM, 422: _PROBLEM, 503: _PROBLEM})
async def register(body: RegisterRequest, resources: ResourcesDep) -> UserPublic | Response:
    """Create an account (a verification link is mailed to it)."""
    if resources.settings.REGISTRATION_ENUMERATION_SAFE:
        await resources.register.enumeration_safe(body.email, body.password, body.display_name)
        return Response(REGISTER_ACCEPTED.model_dump_json(), status_code=202,
                        media_type="application/json")
    user = await resources.register(body.email, body.password, body.display_name)
    return UserPublic.from_upstream(user)


async def _login_body(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in _FORM_TYPES:  # OAuth2 password flow (Swagger's Authorize)
            form = await request.form()
            return LoginRequest.model_validate(
                {"email": form.get("username"), "password": form.get("password"),
                 "device_token": form.get("device_token")}
            )
        if content_type in ("application/json", ""):
            return LoginRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    raise ProblemError(415, "unsupported_media_type",
                       "Send JSON or application/x-www-form-urlencoded")


@router.post("/login", response_model=LoginResponse, openapi_extra=_LOGIN_BODY,
             responses={200: _DEVICE_COOKIE_SET, 401: _PROBLEM, 403: _PROBLEM, 422: _PROBLEM,
                        429: _PROBLEM, 503: _PROBLEM})
async def login(request: Request, response: Response, resources: ResourcesDep,
                client_ip: ClientIp, user_agent: UserAgent,
                device_cookie: DeviceCookie = None) -> LoginResponse:
    """Exchange email and password for an access token, a refresh token and a device token
    (a new session). With MFA on: 403 `mfa_required` with an `mfa_token` for
    POST /auth/login/mfa instead."""
    body = await _login_body(request)
    email = normalise_email(body.email)
    signed_in = await resources.login(email, body.password, client_ip,
                                      (body.device_token, device_cookie), user_agent)
    return login_response(response, resources.settings, signed_in)


def login_response(response: Response, settings: Settings, signed_in: SignIn) -> LoginResponse:
    """The body of a completed sign-in, its device token also set as the cookie."""
    response.set_cookie(DEVICE_COOKIE, signed_in.device_token,
                        max_age=settings.DEVICE_TOKEN_TTL_SECONDS, path="/auth",
                        secure=settings.DEVICE_COOKIE_SECURE, httponly=True, samesite="strict")
    pair = signed_in.pair
    return LoginResponse(access_token=pair.access_token, refresh_token=pair.refresh_token,
                         expires_in=pair.expires_in, device_token=signed_in.device_token)


@router.post("/refresh", response_model=TokenResponse,
             responses={401: _PROBLEM, 503: _PROBLEM})
async def refresh(body: RefreshRequest, resources: ResourcesDep, client_ip: ClientIp,
                  user_agent: UserAgent) -> TokenResponse:
    """Spend a refresh token for a new pair of the same session."""
    pair = await resources.refresh(body.refresh_token, client_ip, user_agent)
    return TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token,
                         expires_in=pair.expires_in)


@router.post("/logout", status_code=204, response_class=Response,
             responses={401: _PROBLEM, 503: _PROBLEM})
async def logout(body: LogoutRequest, resources: ResourcesDep, principal: CurrentPrincipal) -> None:
    """End the refresh token's session (its whole family), if it is the caller's; its
    access tokens are refused everywhere within about a second."""
    # A token of someone else's, or an unknown one, is a silent no-op: the answer must not
    # tell a caller anything about tokens that are not theirs.
    await resources.logout(body.refresh_token, principal.subject)
