"""argon2id runs off the event loop: the service keeps answering during a login storm, and
beyond the bounded wait queue it says so at once (503 hashing_busy) instead of piling up."""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY

from shared.passwords import PasswordHasher


async def test_event_loop_stays_responsive_while_hashing(auth_app_factory: Any) -> None:
    # Real OWASP parameters here: the point is the cost of real hashes.
    async with auth_app_factory(ARGON2_TIME_COST=2, ARGON2_MEMORY_COST_KIB=19456,
                                HASH_CONCURRENCY=2, THROTTLE_IP_FREE_FAILURES=1000) as auth:
        email = await auth.register()
        logins = [asyncio.create_task(
            auth.client.post("/auth/login", json={"email": email, "password": auth.password}))
            for _ in range(10)]
        for _ in range(5000):  # until the storm has reached the hasher
            if auth.resources.hasher.running:
                break
            await asyncio.sleep(0.001)
        live = await auth.client.get("/health/live")
        pending = sum(not task.done() for task in logins)
        assert live.status_code == 200
        assert pending > 0, "health answered only after every login had finished"
        answers = await asyncio.gather(*logins)
        assert [r.status_code for r in answers] == [200] * 10, [r.text for r in answers]


async def test_hasher_uses_configured_parameters(auth: Any) -> None:
    hasher: PasswordHasher = auth.resources.hasher
    stored = await hasher.hash("a perfectly fine passphrase")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _until(condition: Callable[[], bool]) -> None:
    # A deadline for state to be reached, not a timing verdict: a slow machine only waits.
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.005)


async def test_a_burst_beyond_the_hashing_queue_gets_503_hashing_busy(
    auth_app_factory: Any,
) -> None:
    queue_limit, logins, registers = 2, 6, 3
    async with auth_app_factory(HASH_CONCURRENCY=1, HASH_QUEUE_LIMIT=queue_limit,
                                THROTTLE_IP_FREE_FAILURES=1000) as auth:
        email = await auth.register()
        hasher: PasswordHasher = auth.resources.hasher
        # Occupy the only hashing slot until we let go: which requests wait and which are
        # refused then depends on the bound alone, not on how fast this machine hashes.
        release = threading.Event()
        holder = asyncio.create_task(hasher._offload("probe", release.wait, 120))
        await _until(lambda: hasher.running == 1)
        refused_before = (_sample("password_hash_refused_total", operation="verify")
                          + _sample("password_hash_refused_total", operation="hash"))
        waits_before = _sample("password_hash_wait_seconds_count")
        burst = [asyncio.create_task(auth.client.post(
            "/auth/login", json={"email": email, "password": auth.password}))
            for _ in range(logins)]
        burst += [asyncio.create_task(auth.client.post(
            "/auth/register", json={"email": auth.new_email(), "password": auth.password}))
            for _ in range(registers)]
        overflow = logins + registers - queue_limit

        def refused() -> float:
            return (_sample("password_hash_refused_total", operation="verify")
                    + _sample("password_hash_refused_total", operation="hash") - refused_before)

        await _until(lambda: hasher.queued == queue_limit and refused() == overflow)
        # The split is visible while the slot is held: one running, the bound queued.
        assert (_sample("password_hash_running"), _sample("password_hash_queued")) == (
            1, queue_limit)
        assert refused() == overflow
        # The refused ones are answered already, while nothing has been hashed: no waiting.
        answered = [task.result() for task in burst if task.done()]
        assert len(answered) == overflow
        for response in answered:
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "hashing_busy"
            assert int(response.headers["retry-after"]) >= 1
        release.set()
        await holder
        statuses = sorted(r.status_code for r in await asyncio.gather(*burst))
        assert statuses.count(503) == overflow
        assert set(statuses) <= {200, 201, 503}, statuses
        assert len([s for s in statuses if s != 503]) == queue_limit
        assert (_sample("password_hash_running"), _sample("password_hash_queued")) == (0, 0)
        assert _sample("password_hash_wait_seconds_count") - waits_before >= queue_limit
