"""`user-service create-admin`, `migrate`/`downgrade` argument handling."""

import io

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from user_service import cli

PASSWORD = "correct horse battery staple"  # conftest.PASSWORD


async def test_create_admin_then_idempotent(
    settings, migrated, client: httpx.AsyncClient, internal, signer
) -> None:
    asked: list[int] = []

    def password() -> str:
        asked.append(1)
        return "a-long-admin-password"

    message = await cli.create_admin(settings, " Root@Example.com ", "Root", password)
    assert message.startswith("created admin root@example.com")
    creds = (await client.post("/internal/credentials", json={"email": "root@example.com"},
                               headers=internal)).json()
    assert creds["role"] == "admin"
    assert creds["password_hash"].startswith("$argon2id$")
    # The created admin can use the admin API.
    token = {"Authorization": f"Bearer {signer.token(creds['id'], ['admin'])}"}
    assert (await client.get("/users", headers=token)).status_code == 200

    again = await cli.create_admin(settings, "root@example.com", None, password)
    assert "already an active admin" in again
    assert asked == [1]  # no password asked for an existing user


async def test_create_admin_promotes_existing_user(settings, make_user, client, internal) -> None:
    user = await make_user(email="promote@example.com")
    message = await cli.create_admin(settings, "PROMOTE@example.com", None,
                                     lambda: pytest.fail("password must not be asked"))
    assert message.startswith("promoted existing user promote@example.com")
    got = (await client.get(f"/internal/users/{user.id}", headers=internal)).json()
    assert got["role"] == "admin"


async def test_create_admin_refuses_short_password(settings, migrated) -> None:
    with pytest.raises(SystemExit):
        await cli.create_admin(settings, "short@example.com", None, lambda: "short")


async def test_create_admin_applies_the_registration_policy(
    settings, migrated, client: httpx.AsyncClient, internal
) -> None:
    # Long enough, but on the common list: refused like at registration.
    with pytest.raises(SystemExit, match="too common"):
        await cli.create_admin(settings, "common@example.com", None, lambda: "password1234")
    creds = await client.post("/internal/credentials", json={"email": "common@example.com"},
                              headers=internal)
    assert creds.status_code == 404  # nothing was created


def test_read_password_from_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("secret password here\nignored\n"))
    assert cli.read_password() == "secret password here"


def test_cli_rejects_invalid_email() -> None:
    with pytest.raises(SystemExit, match="invalid email"):
        cli.main(["create-admin", "--email", "nope"])


async def test_wait_for_database(settings, postgres) -> None:
    await cli.wait_for_database(settings, attempts=1)
    nowhere = settings.DATABASE_URL.replace(f":{postgres.port}/", ":1/")
    with pytest.raises(OperationalError):
        await cli.wait_for_database(settings.model_copy(update={"DATABASE_URL": nowhere}),
                                    attempts=2)
