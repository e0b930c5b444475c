"""Brute-force throttling: growing delays per account and per IP, before any work."""

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from auth_service.throttle import account_key

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


class _AccountThrottle:
    """One account's throttle hash in Redis, read with the Redis clock the throttle uses:
    the tests decide from the server's state and clock, never from their own stopwatch."""

    def __init__(self, auth: Any, email: str) -> None:
        self._redis = auth.resources.redis.redis
        self._key = account_key(email)

    async def now_ms(self) -> int:
        seconds, micros = await self._redis.execute(self._key, "TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    async def until_ms(self) -> int:
        until = await self._redis.execute(self._key, "HGET", self._key, "until")
        return int(until) if until else 0

    async def delay_after(self, attempt: Awaitable[Any]) -> tuple[Any, range]:
        """`attempt`'s response and the delays (ms) it can have set: the failure was
        recorded at a Redis time between the reads before and after it."""
        before = await self.now_ms()
        response = await attempt
        after = await self.now_ms()
        until = await self.until_ms()
        return response, range(until - after, until - before + 1)

    async def inside_delay(self, attempt: Awaitable[Any]) -> tuple[Any, int | None]:
        """`attempt`'s response, and the ms of delay it was certainly decided within
        (None when the delay may have ended while it was being decided)."""
        response = await attempt
        left = await self.until_ms() - await self.now_ms()
        return response, left if left > 0 else None

    async def wait_out(self) -> None:
        """Until the Redis clock passes the delay: never a permanent lockout."""
        until = await self.until_ms()
        while True:
            left = until - await self.now_ms()
            if left < 0:
                return
            await asyncio.sleep(min(left / 1000, 0.05) + 0.001)


async def test_account_delay_grows_then_expires_and_success_resets(
    auth_app_factory: Any, problem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = await auth.register()
        throttle = _AccountThrottle(auth, email)
        for _ in range(2):  # 2 free
            problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        third, delays = await throttle.delay_after(_login(auth, email, "wrong password!!"))
        problem(third, 401, "invalid_credentials")
        assert 1000 in delays  # the 3rd sets a 1 s delay
        spy = _Spy(auth, monkeypatch)
        # Even the right password waits.
        refused, left = await throttle.inside_delay(_login(auth, email, auth.password))
        if left is not None:  # decided inside the delay by the server's clock
            problem(refused, 429, "login_throttled")
            assert refused.headers["retry-after"] == "1"
            assert spy.calls == 0  # no hashing, no user-service call before the 429

        await throttle.wait_out()  # never a permanent lockout
        assert (await _login(auth, email, auth.password)).status_code == 200
        # Success reset the account counter: one failure is free again.
        problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        assert (await _login(auth, email, auth.password)).status_code == 200


async def test_delay_doubles_and_is_capped(auth_app_factory: Any, problem: Any) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = auth.new_email()  # unknown accounts are throttled the same way
        throttle = _AccountThrottle(auth, email)
        for _ in range(2):
            problem(await _login(auth, email, "wrong password!!"), 401)
        third, delays = await throttle.delay_after(_login(auth, email, "wrong password!!"))
        problem(third, 401)
        assert 1000 in delays
        for expected in (2000, 2000):  # the 4th doubles it; the 5th is capped at 2 s
            await throttle.wait_out()
            failure, delays = await throttle.delay_after(
                _login(auth, email, "wrong password!!"))
            problem(failure, 401)
            assert expected in delays
            refused, left = await throttle.inside_delay(_login(auth, email, "x"))
            if left is not None and left > 1000:  # more than a second of it is left
                problem(refused, 429, "login_throttled")
                assert refused.headers["retry-after"] == "2"


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
