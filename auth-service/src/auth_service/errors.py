"""What the auth service's use cases can answer besides success. Domain outcomes only:
the routes translate them to problem+json (routes/problems.py)."""


class AuthError(Exception):
    """A refused or failed operation the client is told about."""


class InvalidCredentials(AuthError):
    """Unknown e-mail, wrong password or inactive account: one outcome, no enumeration."""


class LoginThrottled(AuthError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class InvalidRefreshToken(AuthError):
    """Garbled, unknown, expired or revoked (other than for reuse)."""


class RefreshTokenReused(AuthError):
    """A spent token came back after the grace window: its family is revoked."""


class EmailTaken(AuthError):
    pass


class StoreUnavailable(AuthError):
    """The Redis Cluster did not answer within the budget (failover, frozen node)."""


class UsersUnavailable(AuthError):
    """The user service did not give a documented answer in time."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("user service unavailable")
        self.retry_after = retry_after


class NotAdmin(AuthError):
    """The caller is not (or no longer) an administrator."""


class UserNotFound(AuthError):
    """No account with that id."""


class EmailNotVerified(AuthError):
    """A correct password, but REQUIRE_VERIFIED_EMAIL is on and the address is unconfirmed."""


class InvalidAccountToken(AuthError):
    """A mailed token that is malformed, unknown, expired, spent, or no longer matches the
    account (its password or address changed since)."""


class WrongPassword(AuthError):
    """The current password given to confirm a password or email change is wrong."""


class MailThrottled(AuthError):
    """This client asked for too many mails; the mail endpoints answer 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class EmailUnchanged(AuthError):
    """An email change to the address the account already has."""


class MfaRequired(AuthError):
    """A correct password of an account with MFA on: the sign-in goes on at /auth/login/mfa
    with this token (no tokens, no session yet)."""

    def __init__(self, mfa_token: str, expires_in: int) -> None:
        super().__init__("second factor required")
        self.mfa_token = mfa_token
        self.expires_in = expires_in


class InvalidMfaToken(AuthError):
    """An mfa_token that is malformed, unknown, expired, spent, or killed by wrong codes."""


class InvalidMfaCode(AuthError):
    """A wrong, replayed or already used TOTP or recovery code."""


class MfaCodeRequired(AuthError):
    """Reauthentication of an account with MFA on came without a code."""


class MfaAlreadyEnabled(AuthError):
    """Enrolment asked for while MFA is on (disable it first)."""


class MfaNotPending(AuthError):
    """A confirmation without an enrolment started."""


class MfaNotEnabled(AuthError):
    """An action that needs MFA on (disable, new recovery codes) on an account without it."""


class StepUpRequired(AuthError):
    """A sensitive action of an account with MFA, without a second factor proved within
    STEP_UP_MAX_AGE_SECONDS: POST /auth/reauthenticate first."""
