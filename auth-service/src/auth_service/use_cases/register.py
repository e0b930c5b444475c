"""Register: a new account with a policy-checked, argon2id-hashed password."""

from typing import Any

from auth_service.users_client import UsersClient
from shared.passwords import PasswordHasher, check_new_password


class Register:
    def __init__(self, *, users: UsersClient, hasher: PasswordHasher) -> None:
        self.users = users
        self.hasher = hasher

    async def __call__(self, email: str, password: str,
                       display_name: str | None) -> dict[str, Any]:
        """The created user (public fields); PasswordRejected, EmailTaken."""
        check_new_password(password)
        password_hash = await self.hasher.hash(password)
        return await self.users.create_user(email, password_hash, display_name)
