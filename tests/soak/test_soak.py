"""Soak: the whole stack under steady mixed traffic for SOAK_MINUTES (default 10), with a
fault every SOAK_FAULT_INTERVAL seconds (default 60) in rotation: a Redis master
SIGKILLed (failover, then the node restarted as a replica), a master frozen for 5 s, and
PostgreSQL restarted. Run by `make soak`, not by `make test`.

What must hold at the end, printed as figures:
- no 500 anywhere, and no 5xx at all on traffic that needs neither PostgreSQL nor a
  fail-closed route (the JWKS loop); the profile loop may see 503 only while PostgreSQL
  is restarting;
- every user whose registration was acknowledged (201) can log in; every refresh token
  chain kept working;
- no resource creep: the gateway's and services' RSS and open file descriptors in the
  last quarter stay within a bound of the first quarter's (after warm-up), and every
  Redis key has a TTL;
- the gateway is back on Redis (not on its fallback limiter) at the end."""

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from devstack.testkit.addresses import next_client_address
from devstack.testkit.fixtures import start_stack
from devstack.testkit.traffic import Report, Traffic, limiter_mode, poll

MINUTES = float(os.environ.get("SOAK_MINUTES", "10"))
FAULT_INTERVAL = float(os.environ.get("SOAK_FAULT_INTERVAL", "60"))
SAMPLE_INTERVAL = 15.0
PASSWORD = "correct horse battery staple 42"
SERVICES = ("gateway", "auth-service", "user-service")
# Growth allowed between the first and the last quarter's medians: generous enough for
# allocator noise and caches filling (token cache, fallback keys), far below a leak that
# grows with requests (hundreds of thousands of them in a soak).
RSS_GROWTH_BOUND_KIB = 30 * 1024
FD_GROWTH_BOUND = 20


@pytest.fixture(scope="module")
def soak_stack() -> Iterator[Stack]:
    with start_stack(
        {"gateway": {"RATE_LIMIT_REQUESTS": "1000000", "RATE_LIMIT_WINDOW_SECONDS": "60"},
         # The profile loop's access token must outlive the soak.
         "auth-service": {"ACCESS_TOKEN_TTL_SECONDS": str(min(86400, int(MINUTES * 60) + 600))}},
        prefix="soak",
    ) as handle:
        yield handle


@dataclass
class Sample:
    at: float
    rss_kib: dict[str, int]
    fds: dict[str, int]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _sample(stack: Stack) -> Sample:
    pids = {name: stack.supervisor.pid(name) for name in SERVICES}
    return Sample(time.monotonic(), {n: _rss_kib(p) for n, p in pids.items()},
                  {n: len(os.listdir(f"/proc/{p}/fd")) for n, p in pids.items()})


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@dataclass
class Accounts:
    """A loop that registers users, logs them in and refreshes their tokens."""

    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    refresh_chains_broken: int = 0

    async def run(self, base_url: str, stop: asyncio.Event) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=next_client_address())
        async with httpx.AsyncClient(base_url=base_url, transport=transport,
                                     timeout=15) as client:
            while not stop.is_set():
                email = f"soak-{uuid.uuid4().hex[:12]}@example.com"
                if await self._call(client, "register", "/auth/register",
                                    {"email": email, "password": PASSWORD}) != 201:
                    await asyncio.sleep(0.5)
                    continue
                self.acknowledged.append(email)
                tokens = await self._tokens(client, email)
                for _ in range(3):
                    if tokens is None or stop.is_set():
                        break
                    response = await client.post(
                        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                    self.statuses[("refresh", response.status_code)] += 1
                    if response.status_code == 200:
                        tokens = response.json()
                    elif response.status_code != 503:
                        self.refresh_chains_broken += 1
                        break
                    await asyncio.sleep(0.2)
                await asyncio.sleep(1.0)  # a steady trickle: argon2 shares two cores

    async def _call(self, client: httpx.AsyncClient, what: str, path: str,
                    body: dict[str, str]) -> int:
        response = await client.post(path, json=body)
        self.statuses[(what, response.status_code)] += 1
        return response.status_code

    async def _tokens(self, client: httpx.AsyncClient, email: str) -> dict[str, str] | None:
        for _ in range(50):  # retried through a PostgreSQL restart (503)
            response = await client.post("/auth/login",
                                         json={"email": email, "password": PASSWORD})
            self.statuses[("login", response.status_code)] += 1
            if response.status_code == 200:
                tokens: dict[str, str] = response.json()
                return tokens
            await asyncio.sleep(0.2)
        return None


class Faults:
    """One fault per interval, in rotation; each waits until the system is whole again."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.log: list[str] = []
        self.postgres_windows: list[tuple[float, float]] = []
        self._rotation = [self._kill_master, self._freeze_master, self._restart_postgres]

    async def run(self, stop: asyncio.Event) -> None:
        turn = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), FAULT_INTERVAL)
                return
            except TimeoutError:
                pass
            fault = self._rotation[turn % len(self._rotation)]
            began = time.monotonic()
            await fault()
            self.log.append(f"{fault.__name__.strip('_')} recovered in "
                            f"{time.monotonic() - began:.1f}s")
            turn += 1

    async def _busiest_master(self) -> int:
        masters = await asyncio.to_thread(self.stack.redis.masters)
        return masters[len(self.log) % len(masters)]

    async def _kill_master(self) -> None:
        cluster = self.stack.redis
        victim = await self._busiest_master()
        await asyncio.to_thread(cluster.kill_node, victim)
        await asyncio.to_thread(cluster.wait_for_failover, victim, 30)
        await asyncio.to_thread(cluster.start_node, victim)
        await asyncio.to_thread(cluster.wait_for_replica, victim, 60)
        await asyncio.to_thread(cluster.wait_healthy, 60)

    async def _freeze_master(self) -> None:
        cluster = self.stack.redis
        victim = await self._busiest_master()
        await asyncio.to_thread(cluster.pause_node, victim)
        await asyncio.sleep(5)
        await asyncio.to_thread(cluster.resume_node, victim)
        await asyncio.to_thread(cluster.wait_healthy, 60)

    async def _restart_postgres(self) -> None:
        began = time.monotonic()
        await asyncio.to_thread(self.stack.restart_postgres)
        # 503s are allowed until the user service answers again (its pool reconnects).
        async with httpx.AsyncClient(base_url=self.stack.user_url, timeout=5) as client:
            await poll(lambda: _ready(client), 60, "the user service to be ready again")
        self.postgres_windows.append((began, time.monotonic() + 1.0))


async def _ready(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health/ready")).status_code == 200
    except httpx.HTTPError:
        return False


def _outside(windows: list[tuple[float, float]], report: Report) -> Report:
    """The requests that ended outside every window."""
    return Report([r for r in report.results
                   if not any(lo <= r[2] <= hi for lo, hi in windows)],
                  report.started, report.stopped)


async def _profile_traffic_headers(base_url: str) -> dict[str, str]:
    transport = httpx.AsyncHTTPTransport(local_address=next_client_address())
    async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=15) as client:
        email = f"soak-profile-{uuid.uuid4().hex[:8]}@example.com"
        created = await client.post("/auth/register", json={"email": email,
                                                             "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_soak(soak_stack: Stack) -> None:
    stack = soak_stack
    url = stack.gateway_url
    seconds = MINUTES * 60
    stop = asyncio.Event()
    accounts, faults = Accounts(), Faults(stack)
    samples: list[Sample] = []
    headers = await _profile_traffic_headers(url)

    async def sampler() -> None:
        while not stop.is_set():
            samples.append(await asyncio.to_thread(_sample, stack))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_INTERVAL)

    jwks = Traffic(url, [next_client_address() for _ in range(16)], max_seconds=seconds + 60)
    profile = Traffic(url, [next_client_address() for _ in range(4)], path="/users/me",
                      headers=headers, pause=0.1, max_seconds=seconds + 60)
    began = time.monotonic()
    async with jwks, profile:
        background = [asyncio.create_task(accounts.run(url, stop)),
                      asyncio.create_task(faults.run(stop)),
                      asyncio.create_task(sampler())]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*background)
    elapsed = time.monotonic() - began

    # Every acknowledged user logs in (sequentially: argon2 on two cores).
    transport = httpx.AsyncHTTPTransport(local_address=next_client_address())
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        logins = Counter()
        for email in accounts.acknowledged:
            response = await client.post("/auth/login",
                                         json={"email": email, "password": PASSWORD})
            logins[response.status_code] += 1
        mode = await limiter_mode(client)
    keys_without_ttl = await asyncio.to_thread(_keys_without_ttl, stack)

    quarter = max(1, len(samples) // 4)
    first, last = samples[1:quarter + 1] or samples[:1], samples[-quarter:]
    growth = {name: (_median([s.rss_kib[name] for s in last])
                     - _median([s.rss_kib[name] for s in first]),
                     _median([s.fds[name] for s in last]) - _median([s.fds[name] for s in first]))
              for name in SERVICES}
    profile_outside = _outside(faults.postgres_windows, profile.report)
    print(f"\nsoak {elapsed / 60:.1f} min; faults: {faults.log}\n"
          f"jwks traffic: {jwks.report.summary()}\n"
          f"profile traffic: {profile.report.summary()}\n"
          f"profile traffic outside PostgreSQL restarts: {profile_outside.summary()}\n"
          f"accounts: {len(accounts.acknowledged)} registered, statuses "
          f"{dict(accounts.statuses)}, broken refresh chains {accounts.refresh_chains_broken}"
          f"\nfinal logins {dict(logins)}; limiter mode {mode}; keys without TTL "
          f"{keys_without_ttl}\nRSS KiB / fd growth (last quarter - first quarter medians, "
          f"{len(samples)} samples): {growth}")

    all_statuses = [*jwks.report.statuses(), *profile.report.statuses(),
                    *(status for _, status in accounts.statuses)]
    assert 500 not in all_statuses
    assert jwks.report.server_errors == 0
    assert jwks.report.client_failures == 0
    assert profile_outside.server_errors == 0
    assert profile_outside.client_failures == 0
    assert set(profile.report.statuses()) <= {200, 503}
    assert accounts.refresh_chains_broken == 0
    assert len(faults.log) >= min(3, int(seconds // FAULT_INTERVAL) - 1)
    assert logins == Counter({200: len(accounts.acknowledged)})
    assert keys_without_ttl == 0
    assert mode == "redis"
    for name, (rss, fds) in growth.items():
        assert rss <= RSS_GROWTH_BOUND_KIB, f"{name} RSS grew by {rss} KiB"
        assert fds <= FD_GROWTH_BOUND, f"{name} open files grew by {fds}"


def _keys_without_ttl(stack: Stack) -> int:
    missing = 0
    for port in stack.redis.masters():
        client = stack.redis.client(port)
        try:
            for key in client.scan_iter(count=1000):
                if client.ttl(key) == -1:
                    missing += 1
        finally:
            client.close()
    return missing

