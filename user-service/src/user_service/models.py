"""The `users` table, the MFA tables beside it, and the API shapes built on them
(Base / Create / Update / table / Public)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Uuid,
    func,
)
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
    # When a confirmed TOTP enrolment turned MFA on; None: off (a pending enrolment has a
    # user_totp_secrets row but no moment here). Set and cleared only by user_service.mfa.
    mfa_enabled_at: datetime | None = Field(
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

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None


# A user's TOTP secret, sealed by user_service.mfa_crypto (AES-256-GCM, the user id as
# associated data); one per user, pending until users.mfa_enabled_at is set.
class UserTotpSecret(SQLModel, table=True):
    __tablename__ = "user_totp_secrets"

    user_id: uuid.UUID = Field(sa_column=Column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    key_id: str = Field(sa_type=String(32))  # which ring key sealed it (rotation)
    nonce: bytes = Field(sa_type=LargeBinary)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    created_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), server_default=func.now(), nullable=False),
    )


# One single-use recovery code, stored as a SHA-256 (user_service.recovery_codes).
class RecoveryCode(SQLModel, table=True):
    __tablename__ = "user_recovery_codes"

    user_id: uuid.UUID = Field(sa_column=Column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    code_hash: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


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
    mfa_enabled: bool
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


# Internal API: what the auth service needs to check a login (with REQUIRE_VERIFIED_EMAIL,
# whether the address is confirmed; whether a second factor must follow the password).
class Credentials(SQLModel):
    id: uuid.UUID
    email: str
    password_hash: str
    role: Role
    is_active: bool
    email_verified: bool
    mfa_enabled: bool


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


# Internal API: a TOTP code or a recovery code, as the user typed it.
class MfaCode(SQLModel):
    model_config = _STRICT
    code: Annotated[str, StringConstraints(max_length=64)]


# Internal API: a started (pending) enrolment; the only time the secret leaves the service.
class TotpEnrolment(SQLModel):
    secret: str  # base32, no padding


# Internal API: MFA is on; the recovery codes are shown once and stored only hashed.
class TotpConfirmation(SQLModel):
    step: int
    recovery_codes: list[str]


# Internal API: whether a TOTP code matches, and its step (the auth service refuses replays).
class MfaVerification(SQLModel):
    valid: bool
    step: int | None


# Internal API: whether a recovery code was accepted (and spent), and how many are left.
class RecoveryCodeUse(SQLModel):
    valid: bool
    remaining: int


# Internal API: a new set of recovery codes (the old set is gone).
class RecoveryCodes(SQLModel):
    recovery_codes: list[str]
