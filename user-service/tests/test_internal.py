"""Internal API for the auth service: credential, create, credentials, hash update, lookup."""

import asyncio
import uuid

import httpx
import pytest

from user_service.models import User


@pytest.mark.parametrize("token", [None, "", "wrong-token", "t\xe9st".encode("latin-1")])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/internal/users", {"email": "a@example.com", "password_hash": "h"}),
    ("POST", "/internal/credentials", {"email": "a@example.com"}),
    ("PUT", f"/internal/users/{uuid.uuid4()}/password-hash", {"password_hash": "h"}),
    ("GET", f"/internal/users/{uuid.uuid4()}", None),
    ("GET", f"/internal/users/{uuid.uuid4()}/credentials", None),
    ("POST", f"/internal/users/{uuid.uuid4()}/email-verified", {"email": "a@example.com"}),
    ("PUT", f"/internal/users/{uuid.uuid4()}/email", {"email": "a@example.com"}),
])
async def test_refused_without_the_service_credential(
    client: httpx.AsyncClient, method: str, path: str, body, token, problem
) -> None:
    headers = {} if token is None else {"X-Internal-Token": token}
    response = await client.request(method, path, json=body, headers=headers)
    problem(response, 401, "invalid_service_credential")


async def test_not_in_public_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith("/internal")]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_create_and_read(client: httpx.AsyncClient, internal, password_hash, problem) -> None:
    body = {"email": "  Mixed.Case@Example.COM ", "password_hash": password_hash,
            "display_name": "Mixed"}
    created = await client.post("/internal/users", json=body, headers=internal)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "mixed.case@example.com"
    assert user["role"] == "user"
    assert "password_hash" not in created.text
    again = await client.post("/internal/users", headers=internal,
                              json={**body, "email": "MIXED.case@example.com"})
    problem(again, 409, "email_taken")

    got = await client.get(f"/internal/users/{user['id']}", headers=internal)
    assert got.status_code == 200
    assert got.json() == user
    problem(await client.get(f"/internal/users/{uuid.uuid4()}", headers=internal),
            404, "user_not_found")


async def test_credentials_and_hash_update(
    client: httpx.AsyncClient, internal, make_user, problem
) -> None:
    user = await make_user(email="creds@example.com")
    creds = await client.post("/internal/credentials", json={"email": " CREDS@example.com"},
                              headers=internal)
    assert creds.status_code == 200
    body = creds.json()
    assert set(body) == {"id", "email", "password_hash", "role", "is_active",
                         "email_verified", "mfa_enabled"}
    assert body["email_verified"] is False
    assert body["mfa_enabled"] is False
    assert body["id"] == user.id
    assert body["password_hash"].startswith("$argon2id$")

    put = await client.put(f"/internal/users/{user.id}/password-hash",
                           json={"password_hash": "$argon2id$new"}, headers=internal)
    assert put.status_code == 204
    creds = await client.post("/internal/credentials", json={"email": "creds@example.com"},
                              headers=internal)
    assert creds.json()["password_hash"] == "$argon2id$new"
    problem(await client.put(f"/internal/users/{uuid.uuid4()}/password-hash",
                             json={"password_hash": "x"}, headers=internal),
            404, "user_not_found")
    problem(await client.post("/internal/credentials", json={"email": "nobody@example.com"},
                              headers=internal), 404, "user_not_found")
    # Not even a valid address: still just "not found", so login cannot tell the difference.
    problem(await client.post("/internal/credentials", json={"email": "not an email"},
                              headers=internal), 404, "user_not_found")


async def test_create_admin_role(client: httpx.AsyncClient, internal, password_hash) -> None:
    created = await client.post("/internal/users", headers=internal, json={
        "email": "boss@example.com", "password_hash": password_hash, "role": "admin"})
    assert created.status_code == 201
    assert created.json()["role"] == "admin"


async def test_concurrent_creates_of_one_email(
    app, client: httpx.AsyncClient, internal, password_hash
) -> None:
    variants = ["race@example.com", "RACE@example.com", "Race@Example.com", " race@EXAMPLE.COM"]
    bodies = [{"email": variants[i % len(variants)], "password_hash": password_hash}
              for i in range(20)]
    responses = await asyncio.gather(*(
        client.post("/internal/users", json=body, headers=internal) for body in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    assert all(r.json()["code"] == "email_taken" for r in responses if r.status_code == 409)
    async with app.state.resources.sessionmaker() as session:
        from sqlmodel import func, select

        count = (await session.exec(select(func.count()).select_from(User)
                                    .where(User.email == "race@example.com"))).one()
    assert count == 1


async def test_credentials_by_id(client: httpx.AsyncClient, internal, make_user,
                                 problem) -> None:
    user = await make_user()
    by_email = await client.post("/internal/credentials", json={"email": user.email},
                                 headers=internal)
    by_id = await client.get(f"/internal/users/{user.id}/credentials", headers=internal)
    assert by_id.status_code == 200
    assert by_id.json() == by_email.json()
    problem(await client.get(f"/internal/users/{uuid.uuid4()}/credentials", headers=internal),
            404, "user_not_found")


async def test_mark_email_verified_only_for_the_current_address(
    client: httpx.AsyncClient, internal, make_user, problem
) -> None:
    user = await make_user()
    path = f"/internal/users/{user.id}/email-verified"
    # A token mailed to another address (an earlier one) verifies nothing.
    problem(await client.post(path, json={"email": "other@example.com"}, headers=internal),
            404, "user_not_found")
    assert (await client.get(f"/internal/users/{user.id}",
                             headers=internal)).json()["email_verified"] is False
    done = await client.post(path, json={"email": user.email.upper()}, headers=internal)
    assert done.status_code == 204
    again = await client.post(path, json={"email": user.email}, headers=internal)
    assert again.status_code == 204  # idempotent
    profile = (await client.get(f"/internal/users/{user.id}", headers=internal)).json()
    assert profile["email_verified"] is True
    creds = await client.post("/internal/credentials", json={"email": user.email},
                              headers=internal)
    assert creds.json()["email_verified"] is True
    problem(await client.post(f"/internal/users/{uuid.uuid4()}/email-verified",
                              json={"email": user.email}, headers=internal),
            404, "user_not_found")


async def test_change_email_is_verified(client: httpx.AsyncClient, internal, make_user,
                                        problem) -> None:
    user = await make_user()
    other = await make_user()
    new = f"moved-{uuid.uuid4().hex[:6]}@Example.com"
    changed = await client.put(f"/internal/users/{user.id}/email", json={"email": new},
                               headers=internal)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == new.lower()
    assert changed.json()["email_verified"] is True
    problem(await client.put(f"/internal/users/{user.id}/email", json={"email": other.email},
                             headers=internal), 409, "email_taken")
    problem(await client.put(f"/internal/users/{uuid.uuid4()}/email", json={"email": new},
                             headers=internal), 404, "user_not_found")
    problem(await client.put(f"/internal/users/{user.id}/email", json={"email": "nope"},
                             headers=internal), 422, "validation_error")
