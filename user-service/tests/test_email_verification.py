"""email_verified (issue 17): shown on the profile, cleared when an admin sets a new
address, kept when the address is unchanged."""

import uuid

import httpx


async def _verify(client: httpx.AsyncClient, internal, user) -> None:
    done = await client.post(f"/internal/users/{user.id}/email-verified",
                             json={"email": user.email}, headers=internal)
    assert done.status_code == 204


async def test_me_shows_verification(client: httpx.AsyncClient, internal, user) -> None:
    assert (await client.get("/users/me", headers=user.auth)).json()["email_verified"] is False
    await _verify(client, internal, user)
    assert (await client.get("/users/me", headers=user.auth)).json()["email_verified"] is True


async def test_admin_email_change_resets_verification(
    client: httpx.AsyncClient, internal, admin, user, make_user, problem
) -> None:
    await _verify(client, internal, user)
    path = f"/users/{user.id}"
    unchanged = await client.patch(path, json={"email": user.email, "display_name": "X"},
                                   headers=admin.auth)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["email_verified"] is True
    new = f"admin-set-{uuid.uuid4().hex[:6]}@Example.com"
    changed = await client.patch(path, json={"email": new}, headers=admin.auth)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == new.lower()
    assert changed.json()["email_verified"] is False
    other = await make_user()
    problem(await client.patch(path, json={"email": other.email}, headers=admin.auth),
            409, "email_taken")
    problem(await client.patch(path, json={"email": None}, headers=admin.auth),
            422, "validation_error")
