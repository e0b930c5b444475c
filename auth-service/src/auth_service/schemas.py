"""Request and response bodies of the public API."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from shared import reject_control_characters
from shared.emails import Email
from shared.passwords import GivenPassword, NewPassword


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(_Body):
    """A new account."""

    email: Email
    password: NewPassword
    display_name: Annotated[
        str | None, Field(min_length=1, max_length=100), AfterValidator(reject_control_characters)
    ] = None

    @field_validator("display_name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class LoginRequest(_Body):
    """Credentials (JSON form of the login body)."""

    email: Annotated[str, Field(min_length=1, max_length=320),
                     AfterValidator(reject_control_characters)]
    password: GivenPassword
    # For clients without a cookie jar: the `device_token` of an earlier successful login
    # to this account, so strangers' failures do not slow this client down.
    device_token: Annotated[str | None, Field(max_length=256)] = None


class RefreshRequest(_Body):
    """A refresh token to spend."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutRequest(RefreshRequest):
    """The refresh token whose family ends."""


class TokenResponse(BaseModel):
    """An access token and the refresh token that replaces it."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int
    refresh_token: str


class LoginResponse(TokenResponse):
    """A token pair, and the device token that marks this client as known to the account."""

    # Also set as the cookie `device_token` (HttpOnly, Path=/auth); send it back in the
    # login body if you keep no cookies.
    device_token: str


class UserPublic(BaseModel):
    """A user as anyone may see it (no password hash)."""

    id: str
    email: str
    display_name: str | None = None
    role: str
    is_active: bool
    email_verified: bool = False
    mfa_enabled: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_upstream(cls, body: dict[str, Any]) -> "UserPublic":
        return cls.model_validate({**body, "id": str(body.get("id"))})


class Jwks(BaseModel):
    """A JSON Web Key Set of public signing keys."""

    keys: list[dict[str, Any]]


class SessionPublic(BaseModel):
    """A live session (one refresh-token family), as its owner or an admin sees it."""

    id: str  # the `sid` claim of its access tokens
    created_at: datetime
    last_used_at: datetime  # its last refresh (or its creation)
    ip: str  # the client IP that signed in
    user_agent: str  # that client's User-Agent, cut to 256 characters
    amr: list[str]  # how it authenticated ("pwd"; "otp" with MFA)
    current: bool  # the caller's own session (the bearer token's `sid`)


class SessionList(BaseModel):
    """A user's live sessions, most recently used first."""

    items: list[SessionPublic]


_AddressToLookUp = Annotated[str, Field(min_length=1, max_length=320),
                             AfterValidator(reject_control_characters)]
MailToken = Annotated[str, Field(min_length=1, max_length=200,
                                 description="the token from the mailed link's fragment")]


class EmailRequest(_Body):
    """An address to mail (a verification resend, a password reset)."""

    email: _AddressToLookUp


class TokenRequest(_Body):
    """A mailed one-time token (`#token=...` of the link)."""

    token: MailToken


class PasswordResetRequest(_Body):
    """A reset token and the new password."""

    token: MailToken
    new_password: NewPassword


class PasswordChangeRequest(_Body):
    """A new password for the signed-in account."""

    current_password: GivenPassword
    new_password: NewPassword
    sign_out_other_sessions: bool = True  # end every session but this one


class EmailChangeRequest(_Body):
    """A new address for the signed-in account (confirmed by a mail to it)."""

    new_email: Email
    current_password: GivenPassword


class Accepted(BaseModel):
    """The request was taken; what happens next arrives by mail, if anything. The body is
    the same whatever the address."""

    status: str = "accepted"
    detail: str


MfaCode = Annotated[str, Field(min_length=1, max_length=64,
                               description="a 6-digit TOTP code or a recovery code"),
                    AfterValidator(reject_control_characters)]


class MfaLoginRequest(_Body):
    """The second step of a login with MFA."""

    mfa_token: Annotated[str, Field(min_length=1, max_length=200,
                                    description="from the login's 403 mfa_required")]
    code: MfaCode


class MfaCodeRequest(_Body):
    """A code of the authenticator app (confirms an enrolment)."""

    code: MfaCode


class MfaDisableRequest(_Body):
    """Both factors again, to turn MFA off."""

    password: GivenPassword
    code: MfaCode


class ReauthenticateRequest(_Body):
    """The factors again, for a fresh `auth_time` (step-up); `code` required with MFA on."""

    password: GivenPassword
    code: MfaCode | None = None


class TotpEnrolmentResponse(BaseModel):
    """A pending TOTP secret for the authenticator app; confirm it with a code."""

    secret: str  # base32, no padding (for typing it in)
    otpauth_uri: str  # otpauth://totp/... (for a link or a QR code)
    qr_code: str  # the URI as a QR code, an SVG data URI


class RecoveryCodes(BaseModel):
    """Single-use recovery codes, shown this once (only their hashes are kept)."""

    recovery_codes: list[str]


class AccessTokenResponse(BaseModel):
    """A fresh access token of the same session (no new refresh token)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int
