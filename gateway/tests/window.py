"""One client's sliding window as the gateway's limiter keeps it in Redis, read with the
Redis clock. A test decides what each answer must have been from the server's own state
and clock, never from its own stopwatch: on a busy machine a step may take any time."""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

# A routed path without a policy of its own, so it counts against `default`; the
# credential endpoints (/auth/login, /auth/register...) have built-in buckets.
DEFAULT_BUCKET_PATH = "/auth/refresh"


class LimiterWindow:
    """Sends requests for one client and checks each answer against the window.

    The limiter adds a member (scored with Redis TIME) for each allowed request only. A
    request decided at Redis time t is allowed iff fewer than `limit` allowed requests
    have scores in (t - window, t]. The test only knows t lies between a TIME read just
    before the request and one just after, so an answer is checked whenever both ends
    agree; when a member left the window in between, either answer is right."""

    def __init__(self, redis: Any, key: str, *, limit: int, window_seconds: int) -> None:
        self._redis = redis
        self._node = redis.get_node_from_key(key)
        self.key = key
        self.limit = limit
        self.window_us = window_seconds * 1_000_000
        self.allowed: list[int] = []  # scores of the allowed requests, in order
        self.last_answered_at = 0  # Redis time just after the last answer
        self.checked = 0  # answers whose status the window decided

    @classmethod
    @contextlib.contextmanager
    def of(cls, gateway: Any, redis_cluster: Any, ip: str) -> Iterator["LimiterWindow"]:
        """The default policy's window for client `ip` of a running test gateway."""
        redis = redis_cluster.cluster_client()
        try:
            yield cls(redis, gateway.app.default_policy.key(ip),
                      limit=gateway.settings.RATE_LIMIT_REQUESTS,
                      window_seconds=gateway.settings.RATE_LIMIT_WINDOW_SECONDS)
        finally:
            redis.close()

    def now(self) -> int:
        """The Redis clock (the one the limiter's script reads), in µs."""
        seconds, micros = self._redis.time(target_nodes=self._node)
        return int(seconds) * 1_000_000 + int(micros)

    def _members(self) -> dict[bytes, int]:
        return {member: int(score) for member, score
                in self._redis.zrange(self.key, 0, -1, withscores=True)}

    async def until(self, moment: int) -> None:
        """Wait until the Redis clock reads at least `moment` (µs)."""
        while True:
            left = moment - self.now()
            if left <= 0:
                return
            await asyncio.sleep(min(left / 1_000_000, 0.05))

    def _in_window(self, at: int) -> int:
        return sum(1 for score in self.allowed if score > at - self.window_us)

    async def request(self, client: httpx.AsyncClient, path: str = DEFAULT_BUCKET_PATH
                      ) -> httpx.Response:
        """One request; asserts its status wherever the window decides it, and that only
        an allowed request added a member."""
        before_members = set(self._members())
        before = self.now()
        response = await client.get(path)
        after = self.last_answered_at = self.now()
        added = {m: s for m, s in self._members().items() if m not in before_members}
        busiest, idlest = self._in_window(before), self._in_window(after)
        if idlest >= self.limit:
            expected: int | None = 429
        elif busiest < self.limit:
            expected = 200
        else:
            expected = None  # an allowed request left the window while this one was decided
        if expected is not None:
            self.checked += 1
            assert response.status_code == expected, (
                f"{response.status_code} where the window held {busiest} allowed requests "
                f"(limit {self.limit}): {response.text}")
        if response.status_code == 200:
            assert len(added) == 1, f"an allowed request added {len(added)} members"
            self.allowed.append(next(iter(added.values())))
        else:
            assert response.status_code == 429, response.text
            assert not added, "a refused request was counted"
        return response

    @property
    def first_in_window(self) -> int:
        """Score of the oldest allowed request still counted at the last answer."""
        return min(s for s in self.allowed
                   if s > self.last_answered_at - self.window_us)
