"""Email change: the new address proves itself with a mailed token before the switch; the
old address is told once it happened."""

from auth_service.errors import (
    EmailUnchanged,
    InvalidAccountToken,
    InvalidCredentials,
    WrongPassword,
)
from auth_service.use_cases.account_mail import AccountMail
from auth_service.use_cases.second_factor import StepUp
from auth_service.users_client import UsersClient
from shared import Principal
from shared.emails import normalise_email
from shared.passwords import PasswordHasher


class EmailChange:
    def __init__(self, *, users: UsersClient, hasher: PasswordHasher,
                 mail: AccountMail, step_up: StepUp) -> None:
        self.step_up = step_up
        self.users = users
        self.hasher = hasher
        self.mail = mail

    async def request(self, principal: Principal, new_email: str,
                      current_password: str) -> None:
        """Mail a confirmation link to `new_email` (WrongPassword, EmailUnchanged). Whether
        the address is free is only told at the confirmation (409), to its owner.
        StepUpRequired: MFA on, no recent second factor."""
        account = await self.users.credentials_by_id(principal.subject)
        if account is None or not account.is_active:
            raise InvalidCredentials
        self.step_up.require(principal, mfa_enabled=account.mfa_enabled)
        if not (await self.hasher.verify(account.password_hash, current_password)).valid:
            raise WrongPassword
        new_email = normalise_email(new_email)
        if new_email == account.email:
            raise EmailUnchanged
        if await self.mail.throttle.address_allows(new_email, "email_change"):
            await self.mail.send_token(
                "email_change", to=new_email, template="email_change",
                fields={"user": account.id, "old": account.email, "new": new_email},
                context={"new_email": new_email})

    async def confirm(self, token: str) -> None:
        """Switch to the token's address (verified) and tell the old one;
        InvalidAccountToken, EmailTaken."""
        fields = await self.mail.tokens.consume("email_change", token)
        if fields is None:
            raise InvalidAccountToken
        user_id, old, new = fields["user"], fields.get("old", ""), fields.get("new", "")
        user = await self.users.get_user(user_id)
        if user is None or not user.get("is_active") or user.get("email") != old or not new:
            raise InvalidAccountToken  # the address changed since, or the account is gone
        if await self.users.change_email(user_id, new) is None:
            raise InvalidAccountToken
        await self.mail.notify(to=old, template="email_changed", context={"new_email": new})
