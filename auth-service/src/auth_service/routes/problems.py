"""The one translation of the use cases' domain errors to problem+json."""

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from auth_service import errors
from shared import ProblemError
from shared.passwords import HashingBusy, PasswordRejected
from shared.web import problem_response

# A hash takes tens of milliseconds, so a full queue drains within a second or two; a
# longer hint would only idle clients the hasher could already serve.
HASHING_BUSY_RETRY_AFTER = "1"


def problem_for(exc: Exception) -> ProblemError:
    match exc:
        case errors.InvalidCredentials():
            # One body for unknown e-mail, wrong password and inactive account.
            return ProblemError(401, "invalid_credentials", "Incorrect email or password",
                                headers={"WWW-Authenticate": "Bearer"})
        case errors.LoginThrottled(retry_after=wait):
            return ProblemError(429, "login_throttled", "Too many failed logins; retry later",
                                headers={"Retry-After": str(wait)})
        case errors.InvalidRefreshToken():
            return ProblemError(401, "invalid_refresh_token",
                                "Refresh token is invalid or expired")
        case errors.RefreshTokenReused():
            return ProblemError(401, "refresh_token_reused",
                                "Refresh token was already used; the session has been revoked")
        case errors.MfaRequired(mfa_token=token, expires_in=ttl):
            return ProblemError(403, "mfa_required",
                                "Enter the code of your authenticator app (or a recovery "
                                "code) at POST /auth/login/mfa with this mfa_token",
                                extra={"mfa_token": token, "expires_in": ttl})
        case errors.InvalidMfaToken():
            return ProblemError(401, "invalid_mfa_token",
                                "This sign-in has expired or was already completed; sign in "
                                "again")
        case errors.InvalidMfaCode():
            return ProblemError(401, "invalid_mfa_code", "The code is wrong or was already used")
        case errors.MfaCodeRequired():
            return ProblemError(400, "mfa_code_required",
                                "This account has MFA on: send a code too")
        case errors.MfaAlreadyEnabled():
            return ProblemError(409, "mfa_already_enabled", "MFA is already on for this account")
        case errors.MfaNotPending():
            return ProblemError(409, "mfa_not_pending",
                                "No enrolment is pending: POST /auth/mfa/totp first")
        case errors.MfaNotEnabled():
            return ProblemError(409, "mfa_not_enabled", "MFA is not on for this account")
        case errors.StepUpRequired():
            return ProblemError(403, "step_up_required",
                                "Confirm it is you first: POST /auth/reauthenticate with your "
                                "password and a code")
        case errors.EmailNotVerified():
            return ProblemError(403, "email_not_verified",
                                "Confirm your email address first (the link in the mail we "
                                "sent; POST /auth/verify-email/resend sends another)")
        case errors.InvalidAccountToken():
            return ProblemError(400, "invalid_or_expired_token",
                                "This link is invalid, expired or already used")
        case errors.EmailUnchanged():
            return ProblemError(422, "email_unchanged", "This is already your email address")
        case errors.WrongPassword():
            return ProblemError(403, "invalid_password", "The current password is wrong")
        case errors.MailThrottled(retry_after=wait):
            return ProblemError(429, "mail_throttled", "Too many mails asked for; retry later",
                                headers={"Retry-After": str(wait)})
        case errors.NotAdmin():
            return ProblemError(403, "forbidden", "Administrator role required")
        case errors.UserNotFound():
            return ProblemError(404, "user_not_found", "No such user")
        case errors.EmailTaken():
            return ProblemError(409, "email_taken", "An account with this email exists")
        case errors.StoreUnavailable():
            return ProblemError(503, "state_store_unavailable",
                                "The token store is unavailable; retry shortly",
                                headers={"Retry-After": "2"})
        case errors.UsersUnavailable(retry_after=wait):
            return ProblemError(503, "upstream_unavailable",
                                "The user service is unavailable; retry shortly",
                                headers={"Retry-After": str(wait)})
        case HashingBusy():
            return ProblemError(503, "hashing_busy",
                                "Too many sign-ins are being checked right now; retry shortly",
                                headers={"Retry-After": HASHING_BUSY_RETRY_AFTER})
        case PasswordRejected(code=code, detail=detail):
            return ProblemError(422, code, detail)
    raise TypeError(f"no problem for {type(exc).__name__}")  # a new error needs a mapping


async def _on_domain_error(_: Request, exc: Exception) -> Response:
    problem = problem_for(exc)
    return problem_response(problem.status, problem.code, problem.detail,
                            headers=problem.headers, extra=problem.extra)


def install_domain_errors(app: FastAPI) -> None:
    """Answer every domain error of the use cases with its problem."""
    app.add_exception_handler(errors.AuthError, _on_domain_error)
    app.add_exception_handler(PasswordRejected, _on_domain_error)
    app.add_exception_handler(HashingBusy, _on_domain_error)
