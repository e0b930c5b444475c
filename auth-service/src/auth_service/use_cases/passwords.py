"""Forgot/reset and change password. A reset token is bound to a fingerprint of the password
hash it was issued under, so any password change kills every outstanding reset link; both
flows apply the password policy, store a fresh argon2id hash, end sessions (a reset: all of
them; a change: the others, unless asked to keep them) and mail a confirmation."""

import hashlib
import hmac

from auth_service.device_tokens import derive_key
from auth_service.errors import (
    InvalidAccountToken,
    InvalidCredentials,
    MailThrottled,
    WrongPassword,
)
from auth_service.use_cases.account_mail import AccountMail
from auth_service.use_cases.second_factor import StepUp
from auth_service.use_cases.sessions import Sessions
from auth_service.users_client import UsersClient
from shared import Principal
from shared.emails import normalise_email
from shared.passwords import PasswordHasher, check_new_password

CONFIRMATION = "password_changed"


class PasswordFingerprint:
    """A keyed hash of a stored password hash: what a reset token remembers of it."""

    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, "password-fingerprint")

    def __call__(self, password_hash: str) -> str:
        return hmac.new(self._key, password_hash.encode(), hashlib.sha256).hexdigest()

    def matches(self, password_hash: str, fingerprint: str) -> bool:
        return hmac.compare_digest(self(password_hash).encode(), fingerprint.encode())


class PasswordReset:
    def __init__(self, *, users: UsersClient, hasher: PasswordHasher, sessions: Sessions,
                 mail: AccountMail, fingerprint: PasswordFingerprint) -> None:
        self.users = users
        self.hasher = hasher
        self.sessions = sessions
        self.mail = mail
        self.fingerprint = fingerprint

    async def forgot(self, email: str, client_ip: str) -> None:
        """Mail a reset link if `email` has an active account: the same calls either way
        (MailThrottled per client IP; per address, a link is held back silently)."""
        if (wait := await self.mail.throttle.ip_wait(client_ip)) > 0:
            raise MailThrottled(wait)
        email = normalise_email(email)
        allowed = await self.mail.throttle.address_allows(email, "reset")
        account = await self.users.credentials(email)
        if allowed and account is not None and account.is_active:
            await self.mail.send_token("reset", to=account.email, template="reset_password",
                                       fields={"user": account.id, "email": account.email,
                                               "fp": self.fingerprint(account.password_hash)})
        else:
            await self.mail.decoy("reset")

    async def reset(self, token: str, new_password: str) -> None:
        """Set `new_password` and end every session; InvalidAccountToken when the token is
        not live, or the password changed since it was issued."""
        check_new_password(new_password)  # a refused password leaves the token usable
        new_hash = await self.hasher.hash(new_password)
        fields = await self.mail.tokens.consume("reset", token)
        if fields is None:
            raise InvalidAccountToken
        user_id = fields["user"]
        account = await self.users.credentials_by_id(user_id)
        if account is None or not account.is_active \
                or not self.fingerprint.matches(account.password_hash, fields.get("fp", "")):
            raise InvalidAccountToken
        if not await self.users.set_password_hash(user_id, new_hash):
            raise InvalidAccountToken
        await self.sessions.end_all(user_id, keep=None, reason="password_reset")
        if fields.get("email") == account.email:  # the link proved the address too
            await self.users.mark_email_verified(user_id, account.email)
        await self.mail.notify(to=account.email, template=CONFIRMATION)


class PasswordChange:
    def __init__(self, *, users: UsersClient, hasher: PasswordHasher, sessions: Sessions,
                 mail: AccountMail, step_up: StepUp) -> None:
        self.step_up = step_up
        self.users = users
        self.hasher = hasher
        self.sessions = sessions
        self.mail = mail

    async def __call__(self, principal: Principal, current_password: str, new_password: str,
                       *, sign_out_other_sessions: bool) -> None:
        """WrongPassword, PasswordRejected, StepUpRequired (MFA on, no recent second
        factor); the caller's own session stays."""
        account = await self.users.credentials_by_id(principal.subject)
        if account is None or not account.is_active:
            raise InvalidCredentials
        self.step_up.require(principal, mfa_enabled=account.mfa_enabled)
        check = await self.hasher.verify(account.password_hash, current_password)
        if not check.valid:
            raise WrongPassword
        check_new_password(new_password)
        new_hash = await self.hasher.hash(new_password)
        if not await self.users.set_password_hash(account.id, new_hash):
            raise InvalidCredentials
        if sign_out_other_sessions:
            await self.sessions.end_all(account.id, keep=principal.session_id,
                                        reason="password_changed")
        await self.mail.notify(to=account.email, template=CONFIRMATION)
