"""Revocation end to end (issue 16): after a logout, the same access token is refused at
two gateway processes and at the user service (which verifies again), each through its
own revocation feed; a user's other session is untouched. Native stack only (a second
gateway process, and the user service's own port)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.testkit.addresses import next_client_address
from devstack.testkit.traffic import poll

from .conftest import ClientFactory, Register


@pytest.fixture(scope="module")
def second_gateway(stack: Any) -> Iterator[str]:
    url = str(stack.add_gateway())
    yield url
    stack.stop_service(f"gateway-{urlsplit(url).port}")


async def _me(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json().get("code", "")


def _refused(client: httpx.AsyncClient, token: str) -> Any:
    async def check() -> bool:
        return await _me(client, token) == (401, "token_revoked")
    return check


async def test_after_logout_the_token_is_refused_everywhere(
        stack: Any, second_gateway: str, new_client: ClientFactory, register: Register) -> None:
    first = new_client(next_client_address())
    second, users = (_client(url) for url in (second_gateway, stack.user_url))
    account = await register(first)
    other = await first.post("/auth/login", json={"email": account.email,
                                                  "password": account.password})
    assert other.status_code == 200
    token, kept = account.tokens["access_token"], other.json()["access_token"]
    try:
        for client in (first, second, users):
            assert await _me(client, token) == (200, "")
        logout = await first.post("/auth/logout", headers=account.bearer,
                                  json={"refresh_token": account.tokens["refresh_token"]})
        assert logout.status_code == 204, logout.text
        for client in (first, second, users):
            await poll(_refused(client, token), 10,
                       f"the logged-out token at {client.base_url}", interval=0.2)
            assert await _me(client, kept) == (200, "")  # the other session still works
    finally:
        await second.aclose()
        await users.aclose()


def _client(url: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=next_client_address())
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=15)
