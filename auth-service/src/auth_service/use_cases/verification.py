"""Email verification: a mailed single-use token proves the address (at registration, on
the owner's request, or on an unauthenticated resend for one who cannot sign in yet)."""

from auth_service.errors import InvalidAccountToken, MailThrottled
from auth_service.use_cases.account_mail import AccountMail
from auth_service.users_client import UsersClient
from shared.emails import normalise_email

TEMPLATE = "verify_email"


class EmailVerification:
    def __init__(self, *, users: UsersClient, mail: AccountMail) -> None:
        self.users = users
        self.mail = mail

    async def send(self, user_id: str, email: str) -> None:
        """Mail a verification link to `email`, unless one went there within the cooldown."""
        if await self.mail.throttle.address_allows(email, "verify"):
            await self.mail.send_token("verify", to=email, template=TEMPLATE,
                                       fields={"user": user_id, "email": email})

    async def request(self, user_id: str) -> None:
        """The signed-in owner asks again; nothing is sent for a verified address."""
        user = await self.users.get_user(user_id)
        if user is None or not user.get("is_active") or user.get("email_verified"):
            return
        await self.send(user_id, str(user["email"]))

    async def resend(self, email: str, client_ip: str) -> None:
        """Unauthenticated: the same work and answer whether or not `email` has an account
        (MailThrottled per client IP)."""
        if (wait := await self.mail.throttle.ip_wait(client_ip)) > 0:
            raise MailThrottled(wait)
        email = normalise_email(email)
        allowed = await self.mail.throttle.address_allows(email, "verify")
        account = await self.users.credentials(email)
        if allowed and account is not None and account.is_active \
                and not account.email_verified:
            await self.mail.send_token("verify", to=account.email, template=TEMPLATE,
                                       fields={"user": account.id, "email": account.email})
        else:
            await self.mail.decoy("verify")

    async def confirm(self, token: str) -> None:
        """Spend the token; InvalidAccountToken unless it is live and its address is still
        the account's."""
        fields = await self.mail.tokens.consume("verify", token)
        if fields is None or not await self.users.mark_email_verified(fields["user"],
                                                                       fields.get("email", "")):
            raise InvalidAccountToken
