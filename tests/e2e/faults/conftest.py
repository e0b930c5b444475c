"""Fault tests: a stack this package owns (never the session `stack`, which other e2e tests
share), steady traffic from many client IPs, and polling helpers.

The fault stack's default rate-limit bucket is effectively unlimited so steady traffic is
answered 200 (the limiter still runs one Redis script per request), without the built-in
credential buckets (users here log in and register again and again from one address), and
`/users/me` has a policy of 20 per 60 s on `/probe` for the limit-semantics checks: a path no
upstream serves, so an allowed request is a cheap 404 made by the gateway and a refused one
a 429."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from devstack.testkit.accounts import register_and_login
from devstack.testkit.addresses import ClientFactory, next_client_address
from devstack.testkit.fixtures import start_stack
from devstack.testkit.traffic import Traffic

STRICT_PATH = "/probe"
STRICT_LIMIT = 20
FAULT_ENV = {
    "gateway": {"RATE_LIMIT_REQUESTS": "1000000", "RATE_LIMIT_WINDOW_SECONDS": "60",
                "RATE_LIMIT_DEFAULT_ROUTES": "false",
                "RATE_LIMIT_ROUTES": f"{STRICT_PATH}={STRICT_LIMIT}/60"},
}

@pytest.fixture(scope="package")
def fault_stack() -> Iterator[Stack]:
    """One stack for the fault package; each test leaves its cluster healthy again."""
    with start_stack(FAULT_ENV, prefix="faults") as handle:
        yield handle


@pytest.fixture
def addresses() -> Callable[[int], list[str]]:
    """`addresses(n)`: n client IPs never used before in this session."""
    return lambda n: [next_client_address() for _ in range(n)]


@pytest.fixture
async def probe(fault_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the gateway's own endpoints (exempt from limiting)."""
    async with httpx.AsyncClient(base_url=fault_stack.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture
def traffic(fault_stack: Stack) -> Callable[..., Traffic]:
    """`async with traffic(ips) as load:` steady GETs through the fault stack's gateway."""
    return lambda ips, **kw: Traffic(fault_stack.gateway_url, ips, **kw)


PASSWORD = "correct horse battery staple 42"


class Account:
    """A registered, logged-in user with its own client (own source address)."""

    def __init__(self, client: httpx.AsyncClient, email: str, tokens: dict[str, Any]) -> None:
        self.client, self.email, self.tokens = client, email, tokens

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


@pytest.fixture
async def gateway_client(fault_stack: Stack) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """`gateway_client()`: a client of the fault stack's gateway from a fresh address."""
    make = ClientFactory(fault_stack.gateway_url, timeout=15)
    yield make
    await make.aclose()


@pytest.fixture
def new_account(gateway_client: Callable[[], httpx.AsyncClient]
                ) -> Callable[[], Awaitable[Account]]:
    """`await new_account()`: register and log in a fresh user through the gateway."""
    async def make() -> Account:
        client = gateway_client()
        email = f"fault-{uuid.uuid4().hex[:12]}@example.com"
        _, tokens = await register_and_login(client, email, PASSWORD)
        return Account(client, email, tokens)

    return make
