"""RemoteKeySet's schedule: the JWKS response's Cache-Control max-age, clamped to the
configured bounds; a refresh replaces the key set; a failed one keeps the last good keys.

A unit test of the client, against a tiny JWKS HTTP server in the test (the real auth
service's JWKS is exercised by the gateway and e2e tests)."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk

from shared import RemoteKeySet
from shared._jwt import max_age_of

ALGS = frozenset({"RS256", "ES256"})


def _public_jwk(private: Any, alg: str, kid: str) -> dict[str, Any]:
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return {**jwk.construct(pem, alg).public_key().to_dict(), "kid": kid, "alg": alg}


RSA_KEY = _public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      "RS256", "rsa-1")
EC_KEY = _public_jwk(ec.generate_private_key(ec.SECP256R1()), "ES256", "ec-1")
MIN, MAX = 30.0, 900.0


@dataclass
class JwksServer:
    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=lambda: [RSA_KEY])
    cache_control: str | None = "public, max-age=300"
    status: int = 200
    fetches: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.status != 200:
            return web.Response(status=self.status)
        headers = {} if self.cache_control is None else {"Cache-Control": self.cache_control}
        return web.json_response({"keys": self.keys}, headers=headers)


@pytest.fixture
async def server() -> AsyncIterator[JwksServer]:
    jwks = JwksServer()
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", jwks.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    jwks.url = f"http://{host}:{port}/.well-known/jwks.json"
    try:
        yield jwks
    finally:
        await runner.cleanup()


@pytest.fixture
async def keys(server: JwksServer) -> AsyncIterator[RemoteKeySet]:
    remote = RemoteKeySet(server.url, ALGS)
    try:
        yield remote
    finally:
        await remote.aclose()


async def wait_for(check: Callable[[], bool], within: float = 10.0) -> None:
    """A hang guard only: the verdict is what the server saw, not how long it took."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("header", "expected"), [
    ("public, max-age=300", 300.0),
    ("max-age=0", 0.0),
    ('max-age="60", public', 60.0),
    ("public,max-age=42", 42.0),
    ("Public, Max-Age=120", 120.0),  # directives are case-insensitive (RFC 9111 5.2)
    ("s-maxage=10", None),
    ("no-cache", None),
    ("", None),
    (None, None),
])
def test_max_age_is_read_from_cache_control(header: str | None, expected: float | None) -> None:
    assert max_age_of(header) == expected


@pytest.mark.parametrize(("cache_control", "max_age", "delay"), [
    ("public, max-age=300", 300.0, 300.0),  # within the bounds: honoured
    ("public, max-age=5", 5.0, MIN),  # too eager: at most every MIN seconds
    ("public, max-age=0", 0.0, MIN),
    ("public, max-age=86400", 86400.0, MAX),  # too lazy: at least every MAX seconds
    (None, None, MAX),  # no max-age: the maximum
    ("no-store", None, MAX),
])
async def test_refresh_delay_is_the_served_max_age_within_the_bounds(
    server: JwksServer, keys: RemoteKeySet,
    cache_control: str | None, max_age: float | None, delay: float,
) -> None:
    server.cache_control = cache_control
    await keys.fetch()
    assert keys.max_age == max_age
    assert keys.refresh_delay(MIN, MAX) == delay


async def test_keep_fresh_replaces_the_key_set_and_keeps_the_last_good_one(
    server: JwksServer, keys: RemoteKeySet,
) -> None:
    server.cache_control = "max-age=0"  # clamped up to the (tiny) minimum below
    task = asyncio.create_task(keys.keep_fresh(0.01, 0.05))
    try:
        await wait_for(lambda: keys.loaded)
        assert keys.get("rsa-1") is not None

        server.keys = [EC_KEY]  # rsa-1 withdrawn, ec-1 added
        await wait_for(lambda: keys.get("ec-1") is not None)
        assert keys.get("rsa-1") is None  # replaced whole, never merged

        server.status = 503
        failed_from = server.fetches
        await wait_for(lambda: server.fetches >= failed_from + 2)  # retried, with backoff
        assert keys.loaded
        assert keys.get("ec-1") is not None  # the last good key set is kept

        server.status = 200
        server.keys = [RSA_KEY]
        await wait_for(lambda: keys.get("rsa-1") is not None)  # recovers by itself
        assert keys.get("ec-1") is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

