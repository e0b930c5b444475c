"""Sessions through the gateway: listing with each client's own IP and User-Agent, ending
one, signing out everywhere, the admin's view, and the edge's answers for the new paths.
An ended session's access tokens are refused at the gateway (401 `token_revoked`) within a
generous bound (the latency itself is measured by the bench, not asserted here)."""

import asyncio
from typing import Any

import httpx
import pytest

from devstack.testkit.addresses import next_client_address
from devstack.testkit.traffic import poll

from .conftest import Account, ClientFactory, Register

UA_LAPTOP = "e2e-laptop/1.0"
UA_PHONE = "e2e-phone/2.0"


async def login(client: httpx.AsyncClient, account: Account, user_agent: str) -> dict[str, Any]:
    response = await client.post("/auth/login", headers={"User-Agent": user_agent},
                                 json={"email": account.email, "password": account.password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def sid(tokens: dict[str, Any]) -> str:
    return str(tokens["refresh_token"].split(".")[1])


async def sessions(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get("/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def refresh(client: httpx.AsyncClient, tokens: dict[str, Any]) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> tuple[int, str]:
    response = await client.get("/users/me", headers=bearer(tokens))
    return response.status_code, response.json().get("code", "")


async def refused(client: httpx.AsyncClient, tokens: dict[str, Any], what: str) -> None:
    async def check() -> bool:
        return await me(client, tokens) == (401, "token_revoked")
    await poll(check, 10, what, interval=0.2)


async def test_each_client_sees_its_sessions_and_ends_one(
    new_client: ClientFactory, register: Register, problem: Any
) -> None:
    laptop_ip, phone_ip = next_client_address(), next_client_address()
    laptop_client, phone_client = new_client(laptop_ip), new_client(phone_ip)
    account = await register(laptop_client)
    laptop = await login(laptop_client, account, UA_LAPTOP)
    phone = await login(phone_client, account, UA_PHONE)
    items = {i["id"]: i for i in await sessions(laptop_client, laptop)}
    # The registration's own login, the laptop's and the phone's.
    assert set(items) == {sid(account.tokens), sid(laptop), sid(phone)}
    assert items[sid(laptop)]["current"] is True
    assert items[sid(phone)]["current"] is False
    # Each session records the client's real address (the gateway's X-Forwarded-For).
    assert items[sid(laptop)]["ip"] == laptop_ip
    assert items[sid(phone)]["ip"] == phone_ip
    assert items[sid(phone)]["user_agent"] == UA_PHONE

    response = await laptop_client.delete(f"/auth/sessions/{sid(phone)}",
                                          headers=bearer(laptop))
    assert response.status_code == 204
    again = await laptop_client.delete(f"/auth/sessions/{sid(phone)}", headers=bearer(laptop))
    assert again.status_code == 204
    problem(await refresh(phone_client, phone), 401, "invalid_refresh_token")
    await refused(phone_client, phone, "the ended session's access token refused")
    assert await me(laptop_client, laptop) == (200, "")
    assert sid(phone) not in {i["id"] for i in await sessions(laptop_client, laptop)}
    # The laptop's session goes on, and keeps its id across a refresh.
    renewed = await refresh(laptop_client, laptop)
    assert renewed.status_code == 200
    assert sid(renewed.json()) == sid(laptop)


async def test_sign_out_everywhere(client: httpx.AsyncClient, register: Register,
                                   problem: Any) -> None:
    account = await register(client)
    others = [await login(client, account, UA_PHONE) for _ in range(2)]
    response = await client.delete("/auth/sessions", headers=account.bearer)
    assert response.status_code == 204
    for tokens in others:
        problem(await refresh(client, tokens), 401, "invalid_refresh_token")
        await refused(client, tokens, "another session's access token refused")
    assert [i["id"] for i in await sessions(client, account.tokens)] == [sid(account.tokens)]
    response = await client.delete("/auth/sessions?include_current=true",
                                   headers=account.bearer)
    assert response.status_code == 204
    problem(await refresh(client, account.tokens), 401, "invalid_refresh_token")
    await refused(client, account.tokens, "the caller's own access token refused")


async def test_another_users_session_cannot_be_ended(client: httpx.AsyncClient,
                                                     register: Register) -> None:
    victim, attacker = await register(client), await register(client)
    response = await client.delete(f"/auth/sessions/{sid(victim.tokens)}",
                                   headers=attacker.bearer)
    assert response.status_code == 204
    assert (await refresh(client, victim.tokens)).status_code == 200
    assert await me(client, victim.tokens) == (200, "")
    response = await client.get(f"/auth/admin/users/{victim.user['id']}/sessions",
                                headers=attacker.bearer)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("request_line", [
    ("GET", "/auth/sessions"), ("DELETE", "/auth/sessions"), ("DELETE", "/auth/sessions/x"),
    ("GET", "/auth/admin/users/x/sessions"), ("DELETE", "/auth/admin/users/x/sessions"),
    ("DELETE", "/auth/admin/users/x/sessions/y"),
])
async def test_session_paths_need_a_token_at_the_edge(client: httpx.AsyncClient,
                                                      request_line: tuple[str, str],
                                                      problem: Any) -> None:
    method, path = request_line
    problem(await client.request(method, path), 401, "missing_token")


@pytest.mark.parametrize("path", ["/auth/sessions/a/b", "/auth/admin/users/x",
                                  "/auth/admin/users/x/sessions/y/z", "/auth/sessions/internal"])
async def test_session_lookalikes_are_not_routed(client: httpx.AsyncClient, path: str,
                                                 problem: Any) -> None:
    problem(await client.get(path), 404, "not_found")


def promote(stack: Any, email: str) -> None:
    """Make the account an admin with the user service's CLI (as an operator would:
    natively, or inside its container on compose)."""
    done = stack.service_command("user-service", "create-admin", "--email", email)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_an_admin_lists_and_ends_a_users_sessions(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, register: Register,
    problem: Any,
) -> None:
    stack = request.getfixturevalue("stack")
    admin, user = await register(client, "admin"), await register(client)
    await asyncio.to_thread(promote, stack, admin.email)
    admin_tokens = await login(client, admin, UA_LAPTOP)
    second = await login(client, user, UA_PHONE)
    base = f"/auth/admin/users/{user.user['id']}/sessions"
    listed = await client.get(base, headers=bearer(admin_tokens))
    assert listed.status_code == 200, listed.text
    assert {i["id"] for i in listed.json()["items"]} == {sid(user.tokens), sid(second)}
    response = await client.delete(f"{base}/{sid(second)}", headers=bearer(admin_tokens))
    assert response.status_code == 204
    problem(await refresh(client, second), 401, "invalid_refresh_token")
    response = await client.delete(base, headers=bearer(admin_tokens))
    assert response.status_code == 204
    problem(await refresh(client, user.tokens), 401, "invalid_refresh_token")
    await refused(client, user.tokens, "the user's access token refused after the admin's end")
    assert await me(client, admin_tokens) == (200, "")
    assert (await client.get(base, headers=bearer(admin_tokens))).json()["items"] == []
    unknown = "/auth/admin/users/00000000-0000-4000-8000-000000000000/sessions"
    problem(await client.get(unknown, headers=bearer(admin_tokens)), 404, "user_not_found")
