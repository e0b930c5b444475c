"""Alembic environment: online migrations over a sync psycopg connection, one at a time."""

from alembic import context
from sqlalchemy import create_engine, pool, text
from sqlmodel import SQLModel

from user_service import models  # noqa: F401  (registers the tables on SQLModel.metadata)

# Any constant: concurrent `migrate` jobs (several replicas starting) run one after another.
_MIGRATION_LOCK_KEY = 0x75736572  # "user"


def run_migrations_online() -> None:
    url = context.config.attributes["database_url"]
    # psycopg 3 serves sync and async from the same URL scheme; Alembic itself is sync.
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            compare_type=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": _MIGRATION_LOCK_KEY})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
