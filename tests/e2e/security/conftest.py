"""Security tests: a stack this package owns, with settings that keep the tests quick.

- gateway: a default bucket high enough that the fuzzer and the timing test are not cut off
  by the gateway (the limiter itself is tested in tests/e2e/test_ratelimit.py and faults/),
  and no built-in credential buckets (login 10 per 60 s per IP...): these tests are about
  the auth service's own throttle, which they must reach (credential stuffing sends 21
  logins from one address);
- auth-service: login throttling with short delays (0.5 s doubling to 1 s) so brute-force
  tests can wait one out, the free allowances as shipped (5 per account, 20 per IP)."""

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from devstack.testkit.accounts import register_and_login
from devstack.testkit.addresses import ClientFactory, next_client_address

PASSWORD = "correct horse battery staple 42"
SECURITY_ENV = {
    "gateway": {"RATE_LIMIT_REQUESTS": "1000000", "RATE_LIMIT_DEFAULT_ROUTES": "false"},
    "auth-service": {"THROTTLE_BASE_DELAY_SECONDS": "0.5", "THROTTLE_MAX_DELAY_SECONDS": "1",
                     "THROTTLE_WINDOW_SECONDS": "60"},
}
@pytest.fixture(scope="package")
def sec_stack(stack_starter: Callable[..., Any]) -> Iterator[Stack]:
    with stack_starter(SECURITY_ENV, prefix="security") as handle:
        yield handle


@pytest.fixture
async def client_for(sec_stack: Stack) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """`client_for(base_url=None, address=None)`: a client from a fresh source address
    (base URL: the gateway unless given)."""
    make = ClientFactory(sec_stack.gateway_url, timeout=30)
    yield make
    await make.aclose()


@pytest.fixture
def fresh_ip() -> Callable[[], str]:
    return next_client_address


@pytest.fixture
async def user(sec_stack: Stack, client_for) -> dict[str, Any]:
    """A registered user: email, password, tokens (through the gateway)."""
    client = client_for()
    email = f"sec-{uuid.uuid4().hex[:12]}@example.com"
    created, tokens = await register_and_login(client, email, PASSWORD)
    return {"email": email, "password": PASSWORD, "tokens": tokens, "id": created["id"]}


@pytest.fixture(scope="package")
def signing_key(sec_stack: Stack) -> tuple[str, bytes]:
    """(kid, private PEM) of the auth service's current key: forged tokens with a *valid*
    signature test the claim checks, not just the signature check."""
    keys_dir = Path(sec_stack.keys_dir)
    kid = json.loads((keys_dir / "keys.json").read_text())["current"]
    return kid, (keys_dir / f"{kid}.pem").read_bytes()
