"""The PostgreSQL fixtures start a real server with role and database `authstack`."""

from collections.abc import Callable

import psycopg
import pytest

from devstack.postgres import Postgres


def test_accepts_authstack_role_over_tcp_with_password(postgres: Postgres) -> None:
    assert postgres.url.startswith("postgresql+psycopg://authstack:")
    assert postgres.url.endswith(f"@127.0.0.1:{postgres.port}/authstack")
    with psycopg.connect(postgres.dsn) as conn:
        user, db = conn.execute("SELECT current_user, current_database()").fetchone() or ()
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                             "WHERE datname = 'authstack'").fetchone()
    assert (user, db) == ("authstack", "authstack")
    assert owner == ("authstack",)


def test_wrong_password_is_refused(postgres: Postgres) -> None:
    bad = postgres.dsn.replace(postgres.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5).close()


def test_data_survives_restart(postgres_factory: Callable[[], Postgres]) -> None:
    server = postgres_factory()
    with psycopg.connect(server.dsn) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")

    server.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn, connect_timeout=2).close()
    server.start()

    with psycopg.connect(server.dsn) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [("still here",)]
