"""Register: a new account with a policy-checked, argon2id-hashed password, and a
verification mail. Enumeration-safe mode (REGISTRATION_ENUMERATION_SAFE) answers the same
for a taken address, whose owner is told by mail instead."""

from typing import Any

from auth_service.errors import EmailTaken, StoreUnavailable
from auth_service.use_cases.verification import EmailVerification
from auth_service.users_client import UsersClient
from shared import get_logger
from shared.emails import normalise_email
from shared.passwords import PasswordHasher, check_new_password

_log = get_logger("register")


class Register:
    def __init__(self, *, users: UsersClient, hasher: PasswordHasher,
                 verification: EmailVerification) -> None:
        self.users = users
        self.hasher = hasher
        self.verification = verification

    async def __call__(self, email: str, password: str,
                       display_name: str | None) -> dict[str, Any]:
        """The created user (public fields); PasswordRejected, EmailTaken."""
        check_new_password(password)
        password_hash = await self.hasher.hash(password)
        user = await self.users.create_user(email, password_hash, display_name)
        await self._verification_mail(user)
        return user

    async def enumeration_safe(self, email: str, password: str,
                               display_name: str | None) -> None:
        """The same work and outcome whether or not `email` is taken: a new account gets
        a verification mail, an existing one's owner a `signup_attempt` mail."""
        try:
            await self(email, password, display_name)
        except EmailTaken:
            email = normalise_email(email)
            mail = self.verification.mail
            try:
                if await mail.throttle.address_allows(email, "signup_attempt"):
                    await mail.notify(to=email, template="signup_attempt")
                await mail.tokens.decoy("verify", ttl=60)  # as the new account's token write
            except StoreUnavailable:
                _log.warning("signup_attempt_mail_failed")

    async def _verification_mail(self, user: dict[str, Any]) -> None:
        # The account exists now: a mail that cannot be queued must not fail the
        # registration (a retry would get 409); the owner can ask for another one.
        try:
            await self.verification.send(str(user["id"]), str(user["email"]))
        except StoreUnavailable:
            _log.warning("verification_mail_failed", user_id=str(user.get("id")))
