"""GET/PATCH/DELETE /users/me, and bearer auth on every public route."""

import time
import uuid

import httpx
import pytest

from user_service import reads

PASSWORD = "correct horse battery staple"  # conftest.PASSWORD

PUBLIC_ROUTES = [
    ("GET", "/users/me"), ("PATCH", "/users/me"), ("DELETE", "/users/me"),
    ("GET", "/users"), ("GET", f"/users/{uuid.uuid4()}"),
    ("PATCH", f"/users/{uuid.uuid4()}"), ("DELETE", f"/users/{uuid.uuid4()}"),
]


async def test_read_me(client: httpx.AsyncClient, user, problem) -> None:
    response = await client.get("/users/me", headers=user.auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "display_name", "role", "is_active",
                         "email_verified", "mfa_enabled", "created_at", "updated_at"}
    assert body["email_verified"] is False
    assert body["mfa_enabled"] is False
    assert body["id"] == user.id
    assert body["role"] == "user"
    assert body["is_active"] is True
    assert "password_hash" not in response.text


async def test_profile_reads_leave_the_pool_transactional(settings, make_app, user) -> None:
    """GET /users/me reads on an autocommit connection of the shared pool; the connection
    must be back in transaction mode when a write session takes it next."""
    app = make_app(settings.model_copy(update={"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0}))
    async with app.router.lifespan_context(app):
        resources = app.state.resources
        profile = await reads.get_profile(resources.reader, user_id=uuid.UUID(user.id))
        assert profile is not None
        assert profile.email == user.email
        async with resources.sessionmaker() as session:
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection.autocommit is False
        assert resources.engine.pool.checkedin() == 1  # the one connection, used by both


async def test_update_display_name(client: httpx.AsyncClient, user) -> None:
    before = (await client.get("/users/me", headers=user.auth)).json()
    response = await client.patch("/users/me", json={"display_name": "  New Name "},
                                  headers=user.auth)
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "New Name"
    assert response.json()["updated_at"] > before["updated_at"]
    cleared = await client.patch("/users/me", json={"display_name": None}, headers=user.auth)
    assert cleared.json()["display_name"] is None


async def test_email_change_needs_the_confirmed_flow(
    client: httpx.AsyncClient, user, problem
) -> None:
    """PATCH /users/me no longer changes the email (issue 17): the change goes through
    POST /auth/email/change, which proves the new address; the old test of a password-
    checked change here is replaced by this one."""
    new = f"New-{uuid.uuid4().hex[:6]}@Example.COM"
    for body in ({"email": new}, {"email": new, "current_password": PASSWORD}):
        refused = await client.patch("/users/me", json=body, headers=user.auth)
        problem(refused, 422, "email_change_requires_confirmation")
        assert "/auth/email/change" in refused.json()["detail"]
    # Sending the current address back (a client PATCHing the whole profile) is a no-op.
    same = await client.patch("/users/me", json={"email": user.email.upper(),
                                                 "display_name": "Same"}, headers=user.auth)
    assert same.status_code == 200, same.text
    assert same.json()["email"] == user.email
    assert same.json()["display_name"] == "Same"


async def test_delete_me_is_a_hard_delete(
    client: httpx.AsyncClient, user, internal, problem
) -> None:
    response = await client.delete("/users/me", headers=user.auth)
    assert response.status_code == 204
    assert response.content == b""
    # The still-unexpired token no longer works (revoked: refused here and at every
    # gateway; or, before the feed has the entry, its user is gone), and the auth service
    # can no longer find the account.
    refused = await client.get("/users/me", headers=user.auth)
    assert refused.status_code == 401
    assert refused.json()["code"] in ("token_revoked", "invalid_token")
    gone = await client.post("/internal/credentials", json={"email": user.email},
                             headers=internal)
    problem(gone, 404, "user_not_found")


@pytest.mark.parametrize(("method", "path"), PUBLIC_ROUTES)
async def test_public_routes_need_a_token(
    client: httpx.AsyncClient, method: str, path: str, problem
) -> None:
    response = await client.request(method, path)
    problem(response, 401, "missing_token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    forged = await client.request(method, path, headers={"Authorization": "Bearer a.b.c"})
    problem(forged, 401, "invalid_token")
    assert forged.headers["www-authenticate"].startswith("Bearer")


async def test_identity_headers_are_not_trusted(client: httpx.AsyncClient, user, problem) -> None:
    headers = {"X-User-Id": user.id, "X-User-Roles": "admin"}
    problem(await client.get("/users/me", headers=headers), 401, "missing_token")


async def test_token_checks(client: httpx.AsyncClient, signer, user, problem) -> None:
    expired = signer.token(user.id, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000)
    problem(await client.get("/users/me", headers={"Authorization": f"Bearer {expired}"}),
            401, "token_expired")
    wrong_aud = signer.token(user.id, aud="someone-else")
    problem(await client.get("/users/me", headers={"Authorization": f"Bearer {wrong_aud}"}),
            401, "invalid_token")
    not_uuid = signer.token("not-a-uuid")
    problem(await client.get("/users/me", headers={"Authorization": f"Bearer {not_uuid}"}),
            401, "invalid_token")
    unknown = signer.token(str(uuid.uuid4()))
    problem(await client.get("/users/me", headers={"Authorization": f"Bearer {unknown}"}),
            401, "invalid_token")


async def test_disabled_user_is_refused(
    client: httpx.AsyncClient, user, admin, problem
) -> None:
    response = await client.patch(f"/users/{user.id}", json={"is_active": False},
                                  headers=admin.auth)
    assert response.status_code == 200
    # Refused twice over: the row is inactive (invalid_token) and the disable revoked the
    # user's tokens (token_revoked, once this service's feed has the entry: usually by now).
    body = problem(await client.get("/users/me", headers=user.auth), 401)
    assert body["code"] in ("invalid_token", "token_revoked")
