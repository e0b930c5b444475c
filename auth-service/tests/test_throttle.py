"""Brute-force throttling: growing delays per account and per IP, before any work."""

import asyncio
from typing import Any

import pytest

FAST_THROTTLE = {"THROTTLE_ACCOUNT_FREE_FAILURES": 2, "THROTTLE_IP_FREE_FAILURES": 100,
                 "THROTTLE_BASE_DELAY_SECONDS": 1, "THROTTLE_MAX_DELAY_SECONDS": 2}


async def _login(auth: Any, email: str, password: str) -> Any:
    return await auth.client.post("/auth/login", json={"email": email, "password": password})


class _Spy:
    """Counts calls into the hasher and the user service of one running app."""

    def __init__(self, auth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        resources = auth.resources
        for owner, name in [(resources.hasher, "verify"), (resources.hasher, "verify_dummy"),
                            (resources.users, "credentials")]:
            original = getattr(owner, name)

            async def counted(*args: Any, _original: Any = original) -> Any:
                self.calls += 1
                return await _original(*args)

            monkeypatch.setattr(owner, name, counted)


async def test_account_delay_grows_then_expires_and_success_resets(
    auth_app_factory: Any, problem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = await auth.register()
        for _ in range(3):  # 2 free, the 3rd sets a 1 s delay
            problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        spy = _Spy(auth, monkeypatch)
        refused = await _login(auth, email, auth.password)  # even the right password waits
        problem(refused, 429, "login_throttled")
        assert refused.headers["retry-after"] == "1"
        assert spy.calls == 0  # no hashing, no user-service call before the 429

        await asyncio.sleep(1.1)  # never a permanent lockout
        assert (await _login(auth, email, auth.password)).status_code == 200
        # Success reset the account counter: one failure is free again.
        problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        assert (await _login(auth, email, auth.password)).status_code == 200


async def test_delay_doubles_and_is_capped(auth_app_factory: Any, problem: Any) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = auth.new_email()  # unknown accounts are throttled the same way
        for _ in range(3):
            problem(await _login(auth, email, "wrong password!!"), 401)
        await asyncio.sleep(1.05)
        problem(await _login(auth, email, "wrong password!!"), 401)  # 4th: 2 s
        assert (await _login(auth, email, "x")).headers["retry-after"] == "2"
        await asyncio.sleep(2.05)
        problem(await _login(auth, email, "wrong password!!"), 401)  # 5th: capped at 2 s
        assert (await _login(auth, email, "x")).headers["retry-after"] == "2"


async def test_per_ip_throttle_spans_accounts(auth_app_factory: Any, problem: Any) -> None:
    async with auth_app_factory(THROTTLE_IP_FREE_FAILURES=3, THROTTLE_BASE_DELAY_SECONDS=5,
                                THROTTLE_MAX_DELAY_SECONDS=5) as auth:
        victim = await auth.register()
        for _ in range(4):
            problem(await _login(auth, auth.new_email(), "wrong password!!"), 401)
        problem(await _login(auth, victim, auth.password), 429, "login_throttled")
    # Another client IP is not affected.
    async with auth_app_factory() as other:
        assert (await _login(other, victim, other.password)).status_code == 200


async def test_forwarded_for_is_honoured_only_from_trusted_proxies(
    auth_app_factory: Any, problem: Any
) -> None:
    settings = {**FAST_THROTTLE, "THROTTLE_IP_FREE_FAILURES": 0}
    async with auth_app_factory(ip="127.0.0.1", **settings) as gateway:
        blocked = {"X-Forwarded-For": "203.0.113.7"}
        await gateway.client.post("/auth/login", headers=blocked,
                                  json={"email": gateway.new_email(), "password": "nope"})
        again = await gateway.client.post("/auth/login", headers=blocked,
                                          json={"email": gateway.new_email(), "password": "x"})
        problem(again, 429, "login_throttled")
        other = await gateway.client.post(
            "/auth/login", headers={"X-Forwarded-For": "203.0.113.8"},
            json={"email": gateway.new_email(), "password": "x"})
        problem(other, 401, "invalid_credentials")
    async with auth_app_factory(ip="198.51.100.9", **settings) as direct:
        # An untrusted peer cannot pick its bucket with the header.
        response = await direct.client.post(
            "/auth/login", headers={"X-Forwarded-For": "203.0.113.7"},
            json={"email": direct.new_email(), "password": "x"})
        problem(response, 401, "invalid_credentials")
