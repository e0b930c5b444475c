"""Login throttling: growing delays per (account, IP) pair, per IP, per tried password and,
for clients unknown to an account only, per account; known clients are never slowed by
others' failures. Client IPs are picked with X-Forwarded-For from a trusted peer."""

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from auth_service.throttle import Attempt

FAST_THROTTLE = {"THROTTLE_PAIR_FREE_FAILURES": 2, "THROTTLE_ACCOUNT_FREE_FAILURES": 100,
                 "THROTTLE_IP_FREE_FAILURES": 100, "THROTTLE_PASSWORD_FREE_FAILURES": 100,
                 "THROTTLE_BASE_DELAY_SECONDS": 1, "THROTTLE_MAX_DELAY_SECONDS": 2}
# Delays no test outlasts, so "still throttled" is what the server's clock says, checked too.
LONG_DELAYS = {"THROTTLE_BASE_DELAY_SECONDS": 60, "THROTTLE_MAX_DELAY_SECONDS": 120}
PROXY = "127.0.0.1"  # a trusted proxy (TRUSTED_PROXIES): its X-Forwarded-For is believed
_ips = (f"198.18.{a}.{b}" for a in range(256) for b in range(1, 255))


def new_ip() -> str:
    return next(_ips)


async def _login(auth: Any, email: str, password: str, *, ip: str | None = None,
                 device_token: str | None = None, cookie: str | None = None) -> Any:
    body = {"email": email, "password": password}
    if device_token is not None:
        body["device_token"] = device_token
    headers = {"X-Forwarded-For": ip} if ip else {}
    if cookie is not None:
        headers["Cookie"] = f"device_token={cookie}"
    return await auth.client.post("/auth/login", json=body, headers=headers)


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


class _Counter:
    """One throttle counter in Redis, read with the Redis clock the throttle uses: the
    tests decide from the server's state and clock, never from their own stopwatch."""

    def __init__(self, auth: Any, key: str) -> None:
        self._redis = auth.resources.redis.redis
        self._key = key

    async def now_ms(self) -> int:
        seconds, micros = await self._redis.execute(self._key, "TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    async def until_ms(self) -> int:
        until = await self._redis.execute(self._key, "HGET", self._key, "until")
        return int(until) if until else 0

    async def running(self) -> bool:
        return await self.until_ms() > await self.now_ms()

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


def _keys(auth: Any, email: str, ip: str) -> Attempt:
    return auth.resources.throttle.attempt(email, "", ip)


async def test_pair_delay_grows_then_expires_and_success_resets(
    auth_app_factory: Any, problem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = await auth.register()
        pair = _Counter(auth, _keys(auth, email, auth.ip).pair_key)
        for _ in range(2):  # 2 free
            problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        third, delays = await pair.delay_after(_login(auth, email, "wrong password!!"))
        problem(third, 401, "invalid_credentials")
        assert 1000 in delays  # the 3rd sets a 1 s delay
        spy = _Spy(auth, monkeypatch)
        # Even the right password waits.
        refused, left = await pair.inside_delay(_login(auth, email, auth.password))
        if left is not None:  # decided inside the delay by the server's clock
            problem(refused, 429, "login_throttled")
            assert refused.headers["retry-after"] == "1"
            assert spy.calls == 0  # no hashing, no user-service call before the 429

        await pair.wait_out()  # never a permanent lockout
        assert (await _login(auth, email, auth.password)).status_code == 200
        # Success reset the pair counter: one failure is free again.
        problem(await _login(auth, email, "wrong password!!"), 401, "invalid_credentials")
        assert (await _login(auth, email, auth.password)).status_code == 200


async def test_delay_doubles_and_is_capped(auth_app_factory: Any, problem: Any) -> None:
    async with auth_app_factory(**FAST_THROTTLE) as auth:
        email = auth.new_email()  # unknown accounts are throttled the same way
        pair = _Counter(auth, _keys(auth, email, auth.ip).pair_key)
        for _ in range(2):
            problem(await _login(auth, email, "wrong password!!"), 401)
        third, delays = await pair.delay_after(_login(auth, email, "wrong password!!"))
        problem(third, 401)
        assert 1000 in delays
        for expected in (2000, 2000):  # the 4th doubles it; the 5th is capped at 2 s
            await pair.wait_out()
            failure, delays = await pair.delay_after(_login(auth, email, "wrong password!!"))
            problem(failure, 401)
            assert expected in delays
            refused, left = await pair.inside_delay(_login(auth, email, "x"))
            if left is not None and left > 1000:  # more than a second of it is left
                problem(refused, 429, "login_throttled")
                assert refused.headers["retry-after"] == "2"


async def test_strangers_failures_never_slow_a_known_client(
    auth_app_factory: Any, problem: Any
) -> None:
    settings = {"THROTTLE_ACCOUNT_FREE_FAILURES": 2, **LONG_DELAYS}
    async with auth_app_factory(ip=PROXY, **settings) as auth:
        email, other = await auth.register(), await auth.register()
        home = new_ip()
        signed_in = await _login(auth, email, auth.password, ip=home)
        assert signed_in.status_code == 200
        device = signed_in.json()["device_token"]
        others_device = (await _login(auth, other, auth.password, ip=new_ip())).json()[
            "device_token"]

        statuses = []
        for i in range(10):  # 20 wrong passwords from 10 addresses: 2 each, below the pair's 5
            attacker = new_ip()
            for j in range(2):
                response = await _login(auth, email, f"guess number {i}.{j}", ip=attacker)
                statuses.append(response.status_code)
        assert statuses == [401] * 3 + [429] * 17  # the 3rd stranger failure starts a delay
        strangers = _Counter(auth, _keys(auth, email, home).strangers_key)
        assert await strangers.running()

        # The owner from the address that signed in before, and with the device token (body
        # or cookie) from addresses never seen: in at the first try.
        assert (await _login(auth, email, auth.password, ip=home)).status_code == 200
        assert (await _login(auth, email, auth.password, ip=new_ip(),
                             device_token=device)).status_code == 200
        assert (await _login(auth, email, auth.password, ip=new_ip(),
                             cookie=device)).status_code == 200
        # No exemption: a stranger with the right password, another account's device token,
        # a tampered one.
        tampered = device[:-2] + ("AA" if not device.endswith("AA") else "BB")
        for token in (None, others_device, tampered, "garbage"):
            refused = await _login(auth, email, auth.password, ip=new_ip(), device_token=token)
            problem(refused, 429, "login_throttled")
            assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert await strangers.running()  # the owner's sign-ins did not reset it


async def test_a_known_client_is_slowed_by_its_own_failures_only(
    auth_app_factory: Any, problem: Any
) -> None:
    settings = {"THROTTLE_PAIR_FREE_FAILURES": 2, **LONG_DELAYS}
    async with auth_app_factory(ip=PROXY, **settings) as auth:
        email = await auth.register()
        home, laptop = new_ip(), new_ip()
        assert (await _login(auth, email, auth.password, ip=home)).status_code == 200
        device = (await _login(auth, email, auth.password, ip=laptop)).json()["device_token"]
        for _ in range(3):
            problem(await _login(auth, email, "fat fingers 123", ip=home), 401)
        problem(await _login(auth, email, auth.password, ip=home), 429, "login_throttled")
        # The device's counter is its own, wherever it signs in from: even from home.
        assert (await _login(auth, email, auth.password, ip=home,
                             device_token=device)).status_code == 200
        for _ in range(3):
            problem(await _login(auth, email, "fat fingers 123", ip=laptop,
                                 device_token=device), 401)
        problem(await _login(auth, email, auth.password, ip=laptop, device_token=device),
                429, "login_throttled")


async def test_known_addresses_are_bounded_per_account(auth_app_factory: Any,
                                                       problem: Any) -> None:
    settings = {"THROTTLE_ACCOUNT_FREE_FAILURES": 0, "THROTTLE_KNOWN_IPS_PER_ACCOUNT": 2,
                "THROTTLE_KNOWN_IP_TTL_SECONDS": 3600, **LONG_DELAYS}
    async with auth_app_factory(ip=PROXY, **settings) as auth:
        email = await auth.register()
        first, second, third = new_ip(), new_ip(), new_ip()
        for ip in (first, second, third):
            assert (await _login(auth, email, auth.password, ip=ip)).status_code == 200
        problem(await _login(auth, email, "a stranger guesses", ip=new_ip()), 401)
        # Only the newest two are remembered: the first address is a stranger again.
        problem(await _login(auth, email, auth.password, ip=first), 429, "login_throttled")
        for ip in (second, third):
            assert (await _login(auth, email, auth.password, ip=ip)).status_code == 200
        known = _keys(auth, email, first).known_key
        ttl = await auth.resources.redis.redis.execute(known, "PTTL", known)
        assert 0 < int(ttl) <= 3600 * 1000  # and only for a while


async def test_per_ip_throttle_spans_accounts(auth_app_factory: Any, problem: Any) -> None:
    async with auth_app_factory(ip=PROXY, THROTTLE_IP_FREE_FAILURES=3, **LONG_DELAYS) as auth:
        victim, regular = await auth.register(), await auth.register()
        stuffer = new_ip()
        assert (await _login(auth, regular, auth.password, ip=stuffer)).status_code == 200
        for i in range(4):
            problem(await _login(auth, auth.new_email(), f"leaked {i}", ip=stuffer), 401)
        problem(await _login(auth, victim, auth.password, ip=stuffer), 429, "login_throttled")
        # Another client IP is not affected, nor an account this address signed in to.
        assert (await _login(auth, victim, auth.password, ip=new_ip())).status_code == 200
        assert (await _login(auth, regular, auth.password, ip=stuffer)).status_code == 200


async def test_password_spraying_is_slowed_for_unknown_clients(auth_app_factory: Any,
                                                               problem: Any) -> None:
    sprayed = "Winter2026!Winter2026!"
    async with auth_app_factory(ip=PROXY, THROTTLE_PASSWORD_FREE_FAILURES=3,
                                **LONG_DELAYS) as auth:
        owner = await auth.register(password=sprayed)
        home = new_ip()
        assert (await _login(auth, owner, sprayed, ip=home)).status_code == 200
        for _ in range(4):  # one password, a new account and a new address each time
            problem(await _login(auth, auth.new_email(), sprayed, ip=new_ip()), 401)
        problem(await _login(auth, auth.new_email(), sprayed, ip=new_ip()), 429,
                "login_throttled")
        # Only that password is slowed, and only for clients unknown to the account.
        problem(await _login(auth, auth.new_email(), "Spring2026!Spring2026!", ip=new_ip()),
                401)
        assert (await _login(auth, owner, sprayed, ip=home)).status_code == 200
        problem(await _login(auth, owner, sprayed, ip=new_ip()), 429, "login_throttled")
        # Redis holds a keyed hash of it, never the password.
        password_key = auth.resources.throttle.attempt(owner, sprayed, home).password_key
        assert sprayed not in password_key
        assert await auth.resources.redis.redis.execute(password_key, "EXISTS", password_key)


async def test_unknown_email_makes_the_same_redis_calls_as_a_wrong_password(
    auth_app_factory: Any, problem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with auth_app_factory(ip=PROXY) as auth:
        email = await auth.register()
        redis = auth.resources.redis.redis
        calls: list[tuple[str, int, int]] = []
        original = redis.evalsha

        def spy(script: Any, keys: Any, args: Any = ()) -> Any:
            calls.append((script.sha, len(keys), len(args)))
            return original(script, keys, args)

        monkeypatch.setattr(redis, "evalsha", spy)
        problem(await _login(auth, email, "not the password", ip=new_ip()), 401)
        wrong, calls[:] = sorted(calls), []
        problem(await _login(auth, auth.new_email(), "not the password", ip=new_ip()), 401)
        assert sorted(calls) == wrong
        assert len(wrong) == 6  # 3 checks + 3 failure records, each of 3 slots


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
