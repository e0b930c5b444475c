"""Admin routes: role checks, keyset pagination, filters, total, get/patch/delete."""

import asyncio
import time
import uuid

import httpx

from shared import totp

ADMIN_ROUTES = [
    ("GET", "/users", None),
    ("GET", "/users/{id}", None),
    ("PATCH", "/users/{id}", {"display_name": "x"}),
    ("DELETE", "/users/{id}", None),
]


async def test_admin_routes_refuse_users(client: httpx.AsyncClient, user, problem) -> None:
    for method, path, body in ADMIN_ROUTES:
        response = await client.request(method, path.format(id=user.id), json=body,
                                        headers=user.auth)
        problem(response, 403, "forbidden")


async def test_admin_role_needs_token_and_row(
    client: httpx.AsyncClient, signer, user, admin, problem
) -> None:
    # A token claiming admin for a plain user row is not enough...
    claims_admin = {"Authorization": f"Bearer {signer.token(user.id, ['admin'])}"}
    problem(await client.get("/users", headers=claims_admin), 403, "forbidden")
    # ...nor an admin row whose token does not carry the role.
    plain_token = {"Authorization": f"Bearer {signer.token(admin.id, ['user'])}"}
    problem(await client.get("/users", headers=plain_token), 403, "forbidden")


async def test_get_patch_delete_user(client: httpx.AsyncClient, admin, user, problem) -> None:
    got = await client.get(f"/users/{user.id}", headers=admin.auth)
    assert got.status_code == 200
    assert got.json()["email"] == user.email
    patched = await client.patch(
        f"/users/{user.id}", json={"role": "admin", "display_name": "Promoted"},
        headers=admin.auth)
    assert patched.status_code == 200, patched.text
    assert patched.json()["role"] == "admin"
    assert patched.json()["display_name"] == "Promoted"
    assert (await client.delete(f"/users/{user.id}", headers=admin.auth)).status_code == 204
    problem(await client.get(f"/users/{user.id}", headers=admin.auth), 404, "user_not_found")
    problem(await client.delete(f"/users/{user.id}", headers=admin.auth), 404, "user_not_found")
    problem(await client.patch(f"/users/{uuid.uuid4()}", json={}, headers=admin.auth),
            404, "user_not_found")


async def test_patch_refuses_null_role(client: httpx.AsyncClient, admin, user, problem) -> None:
    response = await client.patch(f"/users/{user.id}", json={"role": None}, headers=admin.auth)
    problem(response, 422)
    bad_role = await client.patch(f"/users/{user.id}", json={"role": "root"}, headers=admin.auth)
    problem(bad_role, 422, "validation_error")


async def _all_pages(client: httpx.AsyncClient, admin, params: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        page = (await client.get("/users", params=query, headers=admin.auth)).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_pagination_is_stable_across_inserts(
    client: httpx.AsyncClient, admin, make_user
) -> None:
    for i in range(11):
        await make_user(email=f"page{i:02d}@example.com")
    first = await client.get("/users", params={"limit": 5}, headers=admin.auth)
    assert first.status_code == 200
    page1 = first.json()
    assert len(page1["items"]) == 5
    assert page1["total"] == 12
    assert page1["next_cursor"]
    # Rows inserted (concurrently) after page 1 was served must not shift the later pages.
    await asyncio.gather(*(make_user() for _ in range(7)))
    seen = [item["id"] for item in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = (await client.get("/users", params={"limit": 5, "cursor": cursor},
                                 headers=admin.auth)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)), "duplicates across pages"
    everyone = await _all_pages(client, admin, {"limit": "25"})
    assert len(everyone) == 19
    original = set(everyone[:12])  # oldest first: the 12 rows that existed before
    assert original <= set(seen), "a row that existed was skipped"


async def test_filters_and_total(client: httpx.AsyncClient, admin, make_user) -> None:
    for i in range(3):
        await make_user(email=f"alpha{i}@example.com")
    await make_user(email="alpha_x@example.com", role="admin")
    await make_user(email="beta@example.com")
    inactive = await make_user(email="alpha9@example.com")
    await client.patch(f"/users/{inactive.id}", json={"is_active": False}, headers=admin.auth)

    async def query(**params: str) -> dict:
        response = await client.get("/users", params=params, headers=admin.auth)
        assert response.status_code == 200, response.text
        return response.json()

    assert (await query(email_prefix="ALPHA"))["total"] == 5
    # `_` is a literal, not a LIKE wildcard.
    assert (await query(email_prefix="alpha_"))["total"] == 1
    assert (await query(email_prefix="alpha", role="admin"))["total"] == 1
    assert (await query(email_prefix="alpha", is_active="false"))["total"] == 1
    assert (await query(role="user", is_active="true"))["total"] == 4
    paged = await query(email_prefix="alpha", limit="2")
    assert paged["total"] == 5
    assert len(paged["items"]) == 2
    assert paged["next_cursor"]
    assert await _all_pages(client, admin, {"email_prefix": "alpha", "limit": "2"}) == [
        item["id"] for item in (await query(email_prefix="alpha"))["items"]]


async def test_page_size_is_clamped(client: httpx.AsyncClient, admin, make_user, problem) -> None:
    for _ in range(30):  # one at a time: this test is about pages, not the pool's limit
        await make_user()
    page = (await client.get("/users", params={"limit": 1000}, headers=admin.auth)).json()
    assert len(page["items"]) == 25  # PAGE_SIZE_MAX in the test settings
    default = (await client.get("/users", headers=admin.auth)).json()
    assert len(default["items"]) == 10
    assert default["total"] == 31
    problem(await client.get("/users", params={"limit": 0}, headers=admin.auth), 422)
    problem(await client.get("/users", params={"cursor": "garbage!"}, headers=admin.auth),
            422, "invalid_cursor")
    problem(await client.get("/users", params={"role": "root"}, headers=admin.auth), 422)


async def test_list_never_contains_password_hash(client: httpx.AsyncClient, admin) -> None:
    response = await client.get("/users", headers=admin.auth)
    assert response.status_code == 200
    assert "password_hash" not in response.text
    assert "argon2" not in response.text


async def test_the_last_active_admin_cannot_be_removed(
        client: httpx.AsyncClient, admin, make_user, problem) -> None:
    for attempt in ({"role": "user"}, {"is_active": False}):
        problem(await client.patch(f"/users/{admin.id}", json=attempt, headers=admin.auth),
                409, "last_admin")
    problem(await client.delete(f"/users/{admin.id}", headers=admin.auth), 409, "last_admin")
    problem(await client.delete("/users/me", headers=admin.auth), 409, "last_admin")
    assert (await client.get(f"/users/{admin.id}", headers=admin.auth)).json()["role"] == "admin"
    # With a second active admin, either may step down (a disabled admin does not count).
    disabled = await make_user(role="admin")
    assert (await client.patch(f"/users/{disabled.id}", json={"is_active": False},
                               headers=admin.auth)).status_code == 200
    problem(await client.patch(f"/users/{admin.id}", json={"role": "user"},
                               headers=admin.auth), 409, "last_admin")
    other = await make_user(role="admin")
    demoted = await client.patch(f"/users/{admin.id}", json={"role": "user"},
                                 headers=other.auth)
    assert demoted.json()["role"] == "user"
    assert (await client.patch(f"/users/{admin.id}", json={"display_name": "x"},
                               headers=other.auth)).status_code == 200


async def test_two_admins_demoting_each_other_at_once_leave_one(
        client: httpx.AsyncClient, admin, make_user) -> None:
    other = await make_user(role="admin")
    first, second = await asyncio.gather(
        client.patch(f"/users/{other.id}", json={"role": "user"}, headers=admin.auth),
        client.patch(f"/users/{admin.id}", json={"role": "user"}, headers=other.auth))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    survivor = other if first.status_code == 409 else admin  # who is still an admin
    page = await client.get("/users", params={"role": "admin"}, headers=survivor.auth)
    assert page.json()["total"] == 1


async def _enable_mfa(client: httpx.AsyncClient, internal: dict[str, str], user_id: str) -> None:
    started = await client.post(f"/internal/users/{user_id}/mfa/totp", headers=internal)
    code = totp.totp_code(started.json()["secret"])
    confirmed = await client.post(f"/internal/users/{user_id}/mfa/totp/confirm",
                                  json={"code": code}, headers=internal)
    assert confirmed.status_code == 200, confirmed.text


async def test_an_admin_with_mfa_needs_a_recent_second_factor_to_change_users(
        client: httpx.AsyncClient, internal, signer, admin, make_user, problem) -> None:
    target = await make_user()
    await _enable_mfa(client, internal, admin.id)
    now = int(time.time())

    def bearer(**claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.token(admin.id, ['admin'], **claims)}"}

    password_only = bearer(amr=["pwd"], auth_time=now)
    stale = bearer(amr=["pwd", "otp"], auth_time=now - 601)
    for headers in (admin.auth, password_only, stale):  # no amr (older token), pwd, too old
        problem(await client.patch(f"/users/{target.id}", json={"display_name": "x"},
                                   headers=headers), 403, "step_up_required")
        problem(await client.delete(f"/users/{target.id}", headers=headers),
                403, "step_up_required")
    # Reading needs no step-up.
    assert (await client.get(f"/users/{target.id}", headers=password_only)).status_code == 200
    assert (await client.get("/users", headers=password_only)).status_code == 200

    totp_login = bearer(amr=["pwd", "otp"], auth_time=now - 30)
    patched = await client.patch(f"/users/{target.id}", json={"display_name": "Stepped"},
                                 headers=totp_login)
    assert patched.status_code == 200, patched.text
    recovery_login = bearer(amr=["pwd", "mfa"], auth_time=now)
    assert (await client.delete(f"/users/{target.id}",
                                headers=recovery_login)).status_code == 204


async def test_an_admin_without_mfa_needs_no_step_up(
        client: httpx.AsyncClient, internal, admin, make_user) -> None:
    target = await make_user()
    # MFA on for the *target* does not matter; only the acting admin's account counts.
    await _enable_mfa(client, internal, target.id)
    patched = await client.patch(f"/users/{target.id}", json={"display_name": "x"},
                                 headers=admin.auth)
    assert patched.status_code == 200
    assert patched.json()["mfa_enabled"] is True
