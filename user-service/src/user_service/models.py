"""The `users` table and the API shapes built on it (Base / Create / Update / table / Public)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, func
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # the typed form of model_config

from shared import reject_control_characters
from shared.emails import EMAIL_MAX_LENGTH, Email, LookupEmail
from shared.passwords import MAX_LENGTH

Role = Literal["user", "admin"]
PASSWORD_HASH_MAX_LENGTH = 512
EmailPrefix = Annotated[
    str, StringConstraints(max_length=EMAIL_MAX_LENGTH), AfterValidator(reject_control_characters)
]
DisplayName = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(reject_control_characters),
]
PasswordHash = Annotated[
    str,
    StringConstraints(min_length=1, max_length=PASSWORD_HASH_MAX_LENGTH),
    AfterValidator(reject_control_characters),
]
CurrentPassword = Annotated[str, StringConstraints(max_length=MAX_LENGTH)]
_STRICT = SQLModelConfig(extra="forbid")  # unknown fields are a client bug: 422


# Shared fields of every user shape.
class UserBase(SQLModel):
    email: str = Field(max_length=EMAIL_MAX_LENGTH)
    display_name: str | None = Field(default=None, max_length=100)


# Database row. Email is stored normalised; the unique index makes it unique case-insensitively.
class User(UserBase, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="ck_users_role"),
        Index("ux_users_email", "email", unique=True,
              postgresql_ops={"email": "text_pattern_ops"}),
        Index("ix_users_created_at_id", "created_at", "id"),
    )
    # Server-generated columns come back via RETURNING, never by a lazy load (async).
    __mapper_args__ = {"eager_defaults": True}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    password_hash: str = Field(max_length=PASSWORD_HASH_MAX_LENGTH)
    role: str = Field(default="user", sa_type=String(16))
    is_active: bool = Field(default=True)
    # When the current address was confirmed (a mailed token); None: not yet. A new
    # address (admin change) clears it, a confirmed email change sets it.
    email_verified_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), server_default=func.now(), nullable=False),
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), server_default=func.now(),
                         onupdate=func.now(), nullable=False),
    )

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


# Internal API: the auth service creates a user with an already computed hash.
class UserCreate(SQLModel):
    model_config = _STRICT
    email: Email
    password_hash: PasswordHash
    display_name: DisplayName = None
    role: Role = "user"


# PATCH /users/me. `email` (and `current_password`, which only an email change needed) are
# accepted only to refuse a change with a pointer to the confirmed flow
# (POST /auth/email/change); an unchanged `email` is a no-op.
class UserUpdateMe(SQLModel):
    model_config = _STRICT
    display_name: DisplayName = None
    email: Email | None = None
    current_password: CurrentPassword | None = None


# PATCH /users/{id} (admin). A new `email` is unverified (email_verified_at cleared).
class UserUpdate(SQLModel):
    model_config = _STRICT
    display_name: DisplayName = None
    email: Email | None = None
    role: Role | None = None
    is_active: bool | None = None


# What any client may see of a user: never the password hash.
class UserPublic(SQLModel):
    id: uuid.UUID
    email: str
    display_name: str | None
    role: Role
    is_active: bool
    email_verified: bool
    created_at: datetime
    updated_at: datetime


# One page of GET /users.
class UsersPublic(SQLModel):
    items: list[UserPublic]
    total: int
    next_cursor: str | None


# Internal API: credentials lookup by email (a POST body keeps emails out of URLs and logs).
class CredentialsQuery(SQLModel):
    model_config = _STRICT
    email: LookupEmail


# Internal API: what the auth service needs to check a login (and, with
# REQUIRE_VERIFIED_EMAIL, whether the address is confirmed).
class Credentials(SQLModel):
    id: uuid.UUID
    email: str
    password_hash: str
    role: Role
    is_active: bool
    email_verified: bool


# Internal API: mark the address confirmed, if it is still the account's address.
class EmailVerification(SQLModel):
    model_config = _STRICT
    email: LookupEmail


# Internal API: a confirmed email change (the new address is verified by the confirmation).
class EmailChange(SQLModel):
    model_config = _STRICT
    email: Email


# Internal API: a new hash (password change or rehash on login).
class PasswordHashUpdate(SQLModel):
    model_config = _STRICT
    password_hash: PasswordHash
