"""TOTP enrolment and its management: start, confirm, disable, new recovery codes, and an
administrator's reset. The secret and the recovery codes live in the user service
(encrypted, hashed); they pass through here once, to the caller, and are never logged.
Turning MFA on or off mails the account's address (mfa_enabled, mfa_disabled), so an
attacker who did it cannot do it silently."""

from dataclasses import dataclass
from urllib.parse import quote

import segno

from auth_service.errors import InvalidCredentials, MfaNotEnabled, WrongPassword
from auth_service.mfa_tokens import MfaTokens
from auth_service.use_cases.account_mail import AccountMail
from auth_service.use_cases.login import Login
from auth_service.use_cases.second_factor import SecondFactor, StepUp
from auth_service.use_cases.sessions import SessionAdmin, Sessions
from auth_service.users_client import Credentials, UsersClient
from shared import Principal, get_logger

_log = get_logger("mfa")


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What an authenticator app needs: the secret, as text, URI and QR code."""

    secret: str  # base32, no padding
    otpauth_uri: str
    qr_code: str  # the URI as an SVG data URI (segno)


def otpauth_uri(issuer: str, email: str, secret: str) -> str:
    """Key URI format (Google Authenticator's): the label `issuer:email`, and the issuer
    again as a parameter, which apps prefer."""
    label = f"{quote(issuer, safe='')}:{quote(email, safe='@')}"
    return (f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"
            "&algorithm=SHA1&digits=6&period=30")


class MfaManagement:
    def __init__(self, *, users: UsersClient, tokens: MfaTokens, second_factor: SecondFactor,
                 step_up: StepUp, login: Login, sessions: Sessions, admin: SessionAdmin,
                 mail: AccountMail, issuer: str) -> None:
        self.mail = mail
        self.users = users
        self.tokens = tokens
        self.second_factor = second_factor
        self.step_up = step_up
        self.login = login
        self.sessions = sessions
        self.admin = admin
        self.issuer = issuer

    async def _account(self, principal: Principal) -> Credentials:
        account = await self.users.credentials_by_id(principal.subject)
        if account is None or not account.is_active:
            raise InvalidCredentials
        return account

    async def start(self, principal: Principal) -> TotpEnrolment:
        """A new pending secret (an earlier pending one is replaced); MfaAlreadyEnabled."""
        account = await self._account(principal)
        secret = await self.users.start_totp(account.id)
        uri = otpauth_uri(self.issuer, account.email, secret)
        qr_code = segno.make(uri, error="m").svg_data_uri(scale=4)
        return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_code=qr_code)

    async def confirm(self, principal: Principal, code: str) -> list[str]:
        """MFA on, with the recovery codes to show once; InvalidMfaCode, MfaNotPending."""
        account = await self._account(principal)
        enrolled = await self.users.confirm_totp(account.id, code)
        # The confirming code is spent like any other: it cannot sign in a minute later.
        await self.tokens.accept_step(account.id, enrolled.step)
        _log.info("mfa_enabled", user_id=account.id)
        await self.mail.notify(to=account.email, template="mfa_enabled")
        return enrolled.recovery_codes

    async def disable(self, principal: Principal, password: str, code: str,
                      client_ip: str) -> None:
        """MFA off, after a recent second factor (StepUpRequired) and both factors again
        (WrongPassword, InvalidMfaCode, LoginThrottled); MfaNotEnabled."""
        account = await self._account(principal)
        if not account.mfa_enabled:
            raise MfaNotEnabled
        self.step_up.require(principal, mfa_enabled=True)
        try:
            checked, _ = await self.login.authenticate(account.email, password, client_ip)
        except InvalidCredentials:
            raise WrongPassword from None
        if checked.id != account.id:
            raise WrongPassword
        await self.second_factor.prove(account.id, code, client_ip)
        await self.users.disable_mfa(account.id)
        _log.info("mfa_disabled", user_id=account.id)
        await self.mail.notify(to=account.email, template="mfa_disabled")

    async def new_recovery_codes(self, principal: Principal) -> list[str]:
        """A new set (the old one dies); StepUpRequired, MfaNotEnabled."""
        account = await self._account(principal)
        if not account.mfa_enabled:
            raise MfaNotEnabled
        self.step_up.require(principal, mfa_enabled=True)
        codes = await self.users.new_recovery_codes(account.id)
        _log.info("recovery_codes_regenerated", user_id=account.id)
        return codes

    async def admin_reset(self, principal: Principal, user_id: str) -> None:
        """An administrator turns a user's MFA off (a lost device): every session of the
        user ends, so whoever holds them must sign in again. NotAdmin, StepUpRequired,
        UserNotFound."""
        target = await self.admin.target(principal, user_id)
        account = await self.users.credentials_by_id(target)
        await self.users.disable_mfa(target)
        await self.sessions.end_all(target, keep=None, reason="mfa_reset")
        # A security event: who reset whose second factor (no secret in it).
        _log.warning("mfa_reset_by_admin", admin_id=principal.subject, user_id=target,
                     security_event=True)
        if account is not None:
            await self.mail.notify(to=account.email, template="mfa_disabled")
