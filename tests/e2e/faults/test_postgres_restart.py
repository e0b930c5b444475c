"""PostgreSQL restarted while registrations flow through the gateway."""

import asyncio
import time
import uuid
from collections import Counter

import httpx
import psycopg
import pytest

pytestmark = pytest.mark.fault

PASSWORD = "correct horse battery staple 42"


async def test_postgres_restart_while_registrations_flow(fault_stack, addresses) -> None:
    acknowledged: list[str] = []  # 201
    conflicted: list[str] = []  # 409 on a retry: an earlier attempt committed, then failed
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def worker(ip: str) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=ip)
        async with httpx.AsyncClient(base_url=fault_stack.gateway_url, transport=transport,
                                     timeout=15) as client:
            while not stop.is_set():
                email = f"pg-{uuid.uuid4().hex[:12]}@example.com"
                for _ in range(300):  # a client retrying the same e-mail on 503
                    response = await client.post("/auth/register",
                                                 json={"email": email, "password": PASSWORD})
                    statuses[response.status_code] += 1
                    if response.status_code == 503:
                        assert "retry-after" in response.headers
                        await asyncio.sleep(0.1)
                        continue
                    if response.status_code == 201:
                        acknowledged.append(email)
                    elif response.status_code == 409:
                        conflicted.append(email)
                    break

    async def count(n: int, what: list[str] | None = None, status: int | None = None) -> None:
        deadline = time.monotonic() + 60
        while (len(what) if what is not None else statuses[status or 0]) < n:
            assert time.monotonic() < deadline, f"stalled: {statuses}"
            await asyncio.sleep(0.05)

    workers = [asyncio.create_task(worker(ip)) for ip in addresses(4)]
    try:
        await count(10, acknowledged)
        began = time.monotonic()
        await asyncio.to_thread(fault_stack.postgres.stop)
        await count(statuses[503] + 10, status=503)  # the outage is seen by clients
        await asyncio.to_thread(fault_stack.postgres.start)
        restarted = time.monotonic()
        await count(len(acknowledged) + 10, acknowledged)
        recovered = time.monotonic() - restarted
        outage = restarted - began
    finally:
        stop.set()
        await asyncio.gather(*workers)

    users = acknowledged + conflicted
    transport = httpx.AsyncHTTPTransport(local_address=addresses(1)[0])
    async with httpx.AsyncClient(base_url=fault_stack.gateway_url, transport=transport,
                                 timeout=30) as client:
        limit = asyncio.Semaphore(4)

        async def login(email: str) -> int:
            async with limit:
                response = await client.post("/auth/login",
                                             json={"email": email, "password": PASSWORD})
                return response.status_code

        logins = await asyncio.gather(*(login(email) for email in users))
    with psycopg.connect(fault_stack.postgres.dsn) as conn:
        duplicates = conn.execute("SELECT lower(email), count(*) FROM users "
                                  "GROUP BY lower(email) HAVING count(*) > 1").fetchall()
        stored = conn.execute("SELECT count(*) FROM users WHERE email = ANY(%s)",
                              (users,)).fetchone()
    print(f"\npostgres down {outage:.1f}s; registrations {dict(statuses)}; {len(acknowledged)} "
          f"acknowledged (+{len(conflicted)} 409 after a 503 retry), service recovered "
          f"{recovered:.1f}s after restart; logins afterwards {Counter(logins)}")
    assert set(statuses) <= {201, 409, 503}, statuses  # never a 500 (nor 502/504)
    assert statuses[503] >= 10
    assert logins == [200] * len(users)
    assert duplicates == []
    assert stored == (len(users),)
    for name in ("user-service", "auth-service", "gateway"):
        assert fault_stack.supervisor.state(name) == "RUNNING"
