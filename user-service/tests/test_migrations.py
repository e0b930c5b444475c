"""Alembic: upgrade from an empty database, downgrade back to base, idempotent re-runs."""

import asyncio

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from user_service import migrations
from user_service import models as _models  # noqa: F401  (registers the table)


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


@pytest.fixture
def fresh_postgres(postgres_factory):
    """A separately owned, empty server: these tests drop the schema."""
    return postgres_factory()


async def test_upgrade_from_empty_and_downgrade_to_base(fresh_postgres) -> None:
    url, dsn = fresh_postgres.url, fresh_postgres.dsn
    assert "users" not in _tables(dsn)
    await asyncio.to_thread(migrations.upgrade, url)
    assert {"users", "user_totp_secrets", "user_recovery_codes", "alembic_version"} <= _tables(dsn)
    await asyncio.to_thread(migrations.upgrade, url)  # second run is a no-op
    with psycopg.connect(dsn) as conn:
        indexes = {row[0] for row in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'users'")}
        assert {"ux_users_email", "ix_users_created_at_id"} <= indexes
        # The role check lives in the database, not only in the API.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO users (id, email, password_hash, role) "
                         "VALUES (gen_random_uuid(), 'x@example.com', 'h', 'root')")
    await asyncio.to_thread(migrations.downgrade, url, "base")
    assert _tables(dsn) <= {"alembic_version"}
    await asyncio.to_thread(migrations.upgrade, url)
    assert "users" in _tables(dsn)


async def test_models_match_migrations(fresh_postgres) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_postgres.url)
    engine = create_engine(fresh_postgres.url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []


def _columns(dsn: str, table: str = "users") -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = %s", (table,))
        return {row[0] for row in rows}


async def test_email_verified_at_upgrade_and_downgrade(fresh_postgres) -> None:
    """0002 adds a nullable column to a table with rows (they read unverified) and its
    downgrade drops it and keeps the rows."""
    url, dsn = fresh_postgres.url, fresh_postgres.dsn
    await asyncio.to_thread(migrations.upgrade, url, "0001")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, email, password_hash) "
                     "VALUES (gen_random_uuid(), 'old@example.com', 'h')")
    assert "email_verified_at" not in _columns(dsn)
    await asyncio.to_thread(migrations.upgrade, url, "0002")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT email, email_verified_at FROM users").fetchall()
        assert rows == [("old@example.com", None)]
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert version == [("0002",)]
    await asyncio.to_thread(migrations.downgrade, url, "0001")
    assert "email_verified_at" not in _columns(dsn)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("old@example.com",)]
    await asyncio.to_thread(migrations.upgrade, url)
    assert "email_verified_at" in _columns(dsn)


async def test_mfa_upgrade_and_downgrade(fresh_postgres) -> None:
    """0003 adds users.mfa_enabled_at (existing rows: MFA off) and the two MFA tables, whose
    rows go with their user; its downgrade drops them and keeps the users."""
    url, dsn = fresh_postgres.url, fresh_postgres.dsn
    await asyncio.to_thread(migrations.upgrade, url, "0002")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, email, password_hash) "
                     "VALUES (gen_random_uuid(), 'old@example.com', 'h')")
    await asyncio.to_thread(migrations.upgrade, url, "0003")
    assert {"user_totp_secrets", "user_recovery_codes"} <= _tables(dsn)
    assert _columns(dsn, "user_totp_secrets") == {"user_id", "key_id", "nonce", "ciphertext",
                                                  "created_at"}
    assert _columns(dsn, "user_recovery_codes") == {"user_id", "code_hash", "used_at"}
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT email, mfa_enabled_at FROM users").fetchall() == [
            ("old@example.com", None)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0003",)]
        conn.execute("INSERT INTO user_totp_secrets (user_id, key_id, nonce, ciphertext) "
                     "SELECT id, 'k', '\\x00', '\\x00' FROM users")
        conn.execute("INSERT INTO user_recovery_codes (user_id, code_hash) "
                     "SELECT id, '\\x01' FROM users")
        # A secret or a code of no user cannot exist.
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO user_recovery_codes (user_id, code_hash) "
                         "VALUES (gen_random_uuid(), '\\x02')")
    await asyncio.to_thread(migrations.downgrade, url, "0002")
    assert not {"user_totp_secrets", "user_recovery_codes"} & _tables(dsn)
    assert "mfa_enabled_at" not in _columns(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("old@example.com",)]
    await asyncio.to_thread(migrations.upgrade, url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO user_totp_secrets (user_id, key_id, nonce, ciphertext) "
                     "SELECT id, 'k', '\\x00', '\\x00' FROM users")
        conn.execute("DELETE FROM users")  # deleting the user deletes its MFA rows
        assert conn.execute("SELECT count(*) FROM user_totp_secrets").fetchone() == (0,)
