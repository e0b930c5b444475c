"""End-to-end fixtures: the whole stack behind the gateway, and clients with their own IPs.

Every client here is a real TCP client bound to its own address in 127.0.0.0/8, so each
test gets its own rate-limit bucket without trusting forwarded headers."""

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from selenium import webdriver

from devstack.testkit.addresses import next_client_address
from devstack.testkit.fixtures import start_stack

_PASSWORD = "correct horse battery staple 42"


CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's; Selenium's manager would download one


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium (Debian's, through its chromedriver), one per test module."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


StackStarter = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(scope="session")
def stack_starter() -> StackStarter:
    """`with stack_starter(env, prefix=...) as stack:` a stack with a suite's own service
    settings: natively a fresh one (`start_stack`); the compose target answers with
    replicas of the compose services (devstack.testkit.compose_target)."""
    return start_stack


@pytest.fixture(scope="session")
def gateway_url(request: pytest.FixtureRequest) -> str:
    """E2E_GATEWAY_URL targets a running stack (make up, compose); else fixtures start one."""
    external = os.environ.get("E2E_GATEWAY_URL")
    if external:
        return external.rstrip("/")
    stack = request.getfixturevalue("stack")
    return str(stack.gateway_url).rstrip("/")


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def new_client(gateway_url: str) -> AsyncIterator[ClientFactory]:
    """Makes clients, each from a fresh source address unless one is given."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address or next_client_address())
        client = httpx.AsyncClient(base_url=gateway_url, transport=transport, timeout=15, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(new_client: ClientFactory) -> httpx.AsyncClient:
    return new_client()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


class Account:
    """A registered user and its current tokens."""

    def __init__(self, email: str, password: str, tokens: dict[str, Any], user: dict[str, Any]):
        self.email, self.password, self.tokens, self.user = email, password, tokens, user

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def register_and_login(client: httpx.AsyncClient, prefix: str = "user") -> Account:
    email = unique_email(prefix)
    registered = await client.post("/auth/register", json={"email": email, "password": _PASSWORD})
    assert registered.status_code == 201, registered.text
    login = await client.post("/auth/login", json={"email": email, "password": _PASSWORD})
    assert login.status_code == 200, login.text
    return Account(email, _PASSWORD, login.json(), registered.json())


Register = Callable[..., Any]


@pytest.fixture
def register() -> Register:
    """`await register(client)` -> a logged-in Account."""
    return register_and_login


@pytest.fixture
async def account(new_client: ClientFactory) -> Account:
    return await register_and_login(new_client())




