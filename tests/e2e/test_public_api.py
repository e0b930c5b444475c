"""The public API of the architecture contract, end to end through the gateway."""

import asyncio

import httpx


async def test_register_login_profile_refresh_logout(client: httpx.AsyncClient, register) -> None:
    account = await register(client)
    assert "password_hash" not in account.user
    assert account.tokens["token_type"] == "bearer"
    assert account.tokens["expires_in"] > 0

    me = await client.get("/users/me", headers=account.bearer)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == account.email
    assert "password_hash" not in me.text

    renamed = await client.patch("/users/me", headers=account.bearer,
                                 json={"display_name": "Ada Lovelace"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["display_name"] == "Ada Lovelace"

    refreshed = await client.post("/auth/refresh",
                                  json={"refresh_token": account.tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refresh_token"] != account.tokens["refresh_token"]
    assert (await client.get("/users/me", headers={
        "Authorization": f"Bearer {pair['access_token']}"})).status_code == 200

    logout = await client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]},
                               headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert logout.status_code == 204, logout.text
    after = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert after.status_code == 401


async def test_form_encoded_login_for_the_openapi_authorize_button(
    new_client, register
) -> None:
    account = await register(new_client())
    login = await new_client().post(
        "/auth/login", data={"username": account.email, "password": account.password}
    )
    assert login.status_code == 200, login.text
    assert login.json()["token_type"] == "bearer"


async def test_wrong_password_and_unknown_email_look_the_same(new_client, register, problem):
    account = await register(new_client())
    wrong = await new_client().post("/auth/login",
                                    json={"email": account.email, "password": "x" * 20})
    stranger = "nobody-" + account.email
    unknown = await new_client().post("/auth/login", json={"email": stranger, "password": "x" * 20})
    wrong_body, unknown_body = problem(wrong, 401), problem(unknown, 401)
    for body in (wrong_body, unknown_body):
        for per_request in ("request_id", "trace_id"):
            body.pop(per_request, None)
    assert wrong_body == unknown_body


async def test_duplicate_registration_is_409(client: httpx.AsyncClient, register, problem) -> None:
    account = await register(client)
    again = await client.post("/auth/register",
                              json={"email": account.email.upper(), "password": account.password})
    problem(again, 409, "email_taken")


async def test_refresh_retry_within_grace_window_gets_the_same_pair(new_client, register) -> None:
    client = new_client()
    account = await register(client)
    first = account.tokens["refresh_token"]
    rotated = (await client.post("/auth/refresh", json={"refresh_token": first})).json()
    # A retry inside the grace window gets the same successor (two tabs, network retry).
    retry = await client.post("/auth/refresh", json={"refresh_token": first})
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == rotated["refresh_token"]


async def test_jwks_is_public_and_cacheable(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    assert all({"kid", "kty", "alg"} <= key.keys() for key in keys)
    assert all("d" not in key for key in keys)  # never private material
    assert "max-age" in response.headers["cache-control"]


async def test_delete_me_ends_login(new_client, register, problem) -> None:
    client = new_client()
    account = await register(client)
    deleted = await client.delete("/users/me", headers=account.bearer)
    assert deleted.status_code == 204
    login = await client.post("/auth/login",
                              json={"email": account.email, "password": account.password})
    problem(login, 401)
    refresh = await client.post("/auth/refresh",
                                json={"refresh_token": account.tokens["refresh_token"]})
    problem(refresh, 401)


async def test_admin_routes_refuse_plain_users(client: httpx.AsyncClient, register, problem):
    account = await register(client)
    problem(await client.get("/users", headers=account.bearer), 403)
    problem(await client.get(f"/users/{account.user['id']}", headers=account.bearer), 403)


async def test_protected_routes_need_a_token(client: httpx.AsyncClient, problem) -> None:
    for method, path in [("GET", "/users/me"), ("PATCH", "/users/me"), ("DELETE", "/users/me"),
                         ("GET", "/users"), ("POST", "/auth/logout")]:
        response = await client.request(method, path, json={})
        problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_internal_and_unknown_paths_are_404(client: httpx.AsyncClient, problem) -> None:
    for path in ["/internal/users", "/internal/credentials", "/nope", "/users/../internal/users",
                 "/auth/../internal/users", "/INTERNAL/users"]:
        response = await client.post(path, json={"email": "a@example.com"})
        assert response.status_code in (400, 404), (path, response.status_code)
        problem(response, response.status_code)


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text


async def test_many_users_concurrently(new_client, register) -> None:
    accounts = await asyncio.gather(*(register(new_client()) for _ in range(8)))
    assert len({a.user["id"] for a in accounts}) == 8
