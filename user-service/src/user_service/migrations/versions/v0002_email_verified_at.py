"""Add users.email_verified_at (issue 17: email verification).

NULL means the current address was never confirmed; every existing account starts so.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites no rows (no table lock beyond
    # the catalog update).
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(timezone=True),
                                     nullable=True))


def downgrade() -> None:
    op.drop_column("users", "email_verified_at")
