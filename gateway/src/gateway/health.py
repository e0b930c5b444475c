"""Readiness of the gateway: both upstreams ready, and how rate limiting is decided.

Redis trouble alone does not make the gateway unready: it keeps serving with the
in-process limiter (fail-open), and an orchestrator restarting a serving gateway would
only make things worse. The details say `"ratelimit": "fallback"` instead."""

import asyncio
import time

from gateway.fallback import CircuitBreaker
from gateway.upstream import Upstream, UpstreamFailure
from shared.redis import ClusterCommands


class ReadinessProbe:
    """Checks cached for `cache_seconds`, and one check at a time however many probes
    arrive, so probes never hammer the upstreams or the cluster."""

    def __init__(
        self,
        upstreams: dict[str, Upstream],
        redis: ClusterCommands | None,
        breaker: CircuitBreaker | None,
        cache_seconds: float,
        timeout: float = 1.0,
    ) -> None:
        self.upstreams = upstreams
        self.redis = redis
        self.breaker = breaker
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._checked_at = float("-inf")
        self._result: tuple[bool, dict[str, str]] = (False, {})
        self._lock = asyncio.Lock()

    async def _upstream(self, upstream: Upstream) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                response = await upstream.request("GET", b"/health/ready", [])
        except TimeoutError:
            return "timeout"
        except UpstreamFailure as failure:
            return failure.reason
        except Exception as exc:  # a probe reports, it never fails the readiness request
            return type(exc).__name__
        return "ok" if response.status == 200 else f"http_{response.status}"

    async def _redis(self) -> str:
        if self.redis is None:
            return "disabled"
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.on_masters(b"PING")
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return type(exc).__name__
        return "ok"

    async def _run(self) -> tuple[bool, dict[str, str]]:
        names = list(self.upstreams)
        results = await asyncio.gather(
            self._redis(), *(self._upstream(self.upstreams[n]) for n in names))
        checks = {"redis": results[0], **dict(zip(names, results[1:], strict=True))}
        ready = all(checks[n] == "ok" for n in names)
        return ready, checks

    async def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, details); details include the limiter mode."""
        async with self._lock:
            if time.monotonic() - self._checked_at >= self.cache_seconds:
                self._result = await self._run()
                self._checked_at = time.monotonic()
            ready, checks = self._result
        if self.breaker is None:
            mode = "disabled"
        else:
            mode = "fallback" if self.breaker.degraded or checks["redis"] != "ok" else "redis"
        return ready, {**checks, "ratelimit": mode}
