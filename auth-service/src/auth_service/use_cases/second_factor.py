"""Proving the second factor, and the step-up rule that asks for a recent proof.

A code is a TOTP code when it is 6 digits (spaces allowed, as apps show `123 456`), else a
recovery code. A TOTP code is checked by the user service (which holds the secret) and then
accepted only for a step later than the user's last accepted one (auth_service.mfa_tokens),
so each code works once. Wrong codes are throttled with the login throttle's model
(auth_service.throttle) under an account name of their own (`mfa:<user id>`): a correct
password, which clears the password counters, never clears the code counters, so signing
in again does not buy fresh guesses; the clients that completed MFA before are known to
that account and are slowed only by their own failures."""

import re
import time

from auth_service.errors import InvalidMfaCode, LoginThrottled, StepUpRequired
from auth_service.metrics import LOGINS
from auth_service.mfa_tokens import MfaTokens
from auth_service.throttle import LoginThrottle
from auth_service.users_client import UsersClient
from shared import Principal, get_logger

_log = get_logger("mfa")
_TOTP_CODE = re.compile(r"^[0-9]{6}$")
MAX_CODE_LENGTH = 64  # longer than any recovery code; what the request bodies accept


def second_factor_amr(method: str) -> list[str]:
    """The `amr` of a sign-in with a password and `method` ("otp" or "mfa")."""
    return ["pwd", method]


class StepUp:
    """Sensitive actions of an account with MFA need a second factor proved within
    STEP_UP_MAX_AGE_SECONDS (shared.Principal.has_recent_second_factor)."""

    def __init__(self, *, max_age_seconds: int) -> None:
        self.max_age_seconds = max_age_seconds

    def require(self, principal: Principal, *, mfa_enabled: bool) -> None:
        """StepUpRequired unless the account has no MFA or the token shows a recent one."""
        if mfa_enabled and not principal.has_recent_second_factor(self.max_age_seconds,
                                                                   time.time()):
            raise StepUpRequired


class SecondFactor:
    def __init__(self, *, users: UsersClient, tokens: MfaTokens,
                 throttle: LoginThrottle) -> None:
        self.users = users
        self.tokens = tokens
        self.throttle = throttle

    async def prove(self, user_id: str, code: str, client_ip: str) -> str:
        """The method `code` proves for the user ("otp": a TOTP code, "mfa": a recovery
        code, now used); InvalidMfaCode, LoginThrottled."""
        attempt = self.throttle.attempt(f"mfa:{user_id}", code, client_ip)
        verdict = await self.throttle.check(attempt)
        if verdict.retry_after > 0:
            LOGINS.labels("mfa_throttled").inc()
            _log.info("mfa_code_throttled", user_id=user_id, counter=verdict.counter,
                      retry_after=verdict.retry_after)
            raise LoginThrottled(verdict.retry_after)
        method = await self._check(user_id, code)
        if method is None:
            await self.throttle.record_failure(attempt, verdict)
            LOGINS.labels("invalid_mfa_code").inc()
            _log.info("mfa_code_refused", user_id=user_id)  # never the code itself
            raise InvalidMfaCode
        await self.throttle.record_success(attempt)
        if method == "mfa":
            _log.info("recovery_code_used", user_id=user_id)
        return method

    async def _check(self, user_id: str, code: str) -> str | None:
        compact = code.replace(" ", "")
        if _TOTP_CODE.fullmatch(compact):
            step = await self.users.verify_totp(user_id, compact)
            if step is None:
                return None
            if not await self.tokens.accept_step(user_id, step):
                _log.warning("totp_code_replayed", user_id=user_id)
                return None
            return "otp"
        if not code.strip() or len(code) > MAX_CODE_LENGTH:
            return None
        return "mfa" if await self.users.consume_recovery_code(user_id, code) else None
