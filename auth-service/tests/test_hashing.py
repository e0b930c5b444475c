"""argon2id runs off the event loop: the service keeps answering during a login storm."""

import asyncio
from typing import Any

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
            if auth.resources.hasher.in_flight:
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
