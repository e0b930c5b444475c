"""MFA storage (issue 18): users.mfa_enabled_at, user_totp_secrets, user_recovery_codes.

Every existing account starts with MFA off (NULL, no rows). The downgrade drops the MFA
state of every account: after it, accounts that had MFA log in with the password alone.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: no row is rewritten (as 0002's column).
    op.add_column("users", sa.Column("mfa_enabled_at", sa.DateTime(timezone=True),
                                     nullable=True))
    op.create_table(
        "user_totp_secrets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_totp_secrets"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_user_totp_secrets_user_id"),
    )
    # The primary key (user_id, code_hash) also serves "this user's codes".
    op.create_table(
        "user_recovery_codes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "code_hash", name="pk_user_recovery_codes"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_user_recovery_codes_user_id"),
    )


def downgrade() -> None:
    op.drop_table("user_recovery_codes")
    op.drop_table("user_totp_secrets")
    op.drop_column("users", "mfa_enabled_at")
