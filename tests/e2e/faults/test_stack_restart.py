"""The whole stack stopped and started again on the same state dir (`make down && make up`):
users, refresh tokens and rate-limit state survive."""

import asyncio
import time

import httpx
import pytest

pytestmark = pytest.mark.fault

STRICT_PATH, STRICT_LIMIT = "/probe", 20  # the fault stack's strict policy (conftest)
PASSWORD = "correct horse battery staple 42"  # conftest's new_account


async def test_users_tokens_and_rate_limits_survive_down_up(fault_stack, new_account,
                                                            addresses) -> None:
    account = await new_account()
    ip = addresses(1)[0]

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=fault_stack.gateway_url, timeout=15,
                                 transport=httpx.AsyncHTTPTransport(local_address=ip))

    async with client() as limited:
        before = [(await limited.get(STRICT_PATH)).status_code for _ in range(STRICT_LIMIT + 1)]
    assert before == [404] * STRICT_LIMIT + [429]
    await account.client.aclose()  # its keep-alive connection dies with the gateway

    began = time.monotonic()
    await asyncio.to_thread(fault_stack.down)
    stopped = time.monotonic() - began
    await asyncio.to_thread(fault_stack.up)
    restarted = time.monotonic() - began

    async with client() as after:
        still_limited = await after.get(STRICT_PATH)
        refreshed = await after.post("/auth/refresh",
                                     json={"refresh_token": account.tokens["refresh_token"]})
        me = await after.get("/users/me", headers=account.bearer)  # signing keys survived
    async with httpx.AsyncClient(base_url=fault_stack.gateway_url, timeout=15,
                                 transport=httpx.AsyncHTTPTransport(
                                     local_address=addresses(1)[0])) as other:
        login = await other.post("/auth/login",
                                 json={"email": account.email, "password": PASSWORD})
    print(f"\nstack down in {stopped:.1f}s, up again after {restarted:.1f}s in total; after it: "
          f"rate-limited IP -> {still_limited.status_code} "
          f"(remaining {still_limited.headers.get('x-ratelimit-remaining')}), old refresh token "
          f"-> {refreshed.status_code}, old access token -> {me.status_code}, login -> "
          f"{login.status_code}")
    assert still_limited.status_code == 429
    assert refreshed.status_code == 200, refreshed.text
    assert me.status_code == 200, me.text
    assert me.json()["email"] == account.email
    assert login.status_code == 200, login.text
