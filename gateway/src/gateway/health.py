"""Readiness of the gateway: both upstreams ready, and how rate limiting is decided.

Redis trouble alone does not make the gateway unready: it keeps serving with the
in-process limiter (fail-open), and an orchestrator restarting a serving gateway would
only make things worse. The details say `"ratelimit": "fallback"` instead, and report
the cluster's own view (`cluster_state`, `slots` covered) from CLUSTER INFO, which costs
what the PING it replaced did. What the gateway cannot serve without does gate: until a
first JWKS has loaded every token would be refused, so it is not ready (`"jwks":
"missing"`). The revocation feed's state is reported (`"revocations"`: `starting` until
it has read the log once, `current`, or `stale` when out of touch too long) but does not
gate, like any Redis trouble: protected routes answer 503 while it is not current, the
others keep working (docs/revocation.md)."""

import asyncio
import time

from gateway.fallback import CircuitBreaker
from gateway.upstream import Upstream, UpstreamFailure
from shared import RemoteKeySet
from shared.redis import ClusterCommands, RevocationFeed

ALL_SLOTS = 16384


def _cluster_info(replies: list[object]) -> dict[str, str]:
    """cluster_state and slots covered ("16384/16384") over every master's CLUSTER INFO;
    the worst view wins: "fail" when any master says so, the fewest slots any sees ok."""
    states, slots_ok = [], ALL_SLOTS
    for reply in replies:
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        states.append(fields.get("cluster_state", "unknown"))
        slots_ok = min(slots_ok, int(fields.get("cluster_slots_ok", 0)))
    state = "ok" if states and all(s == "ok" for s in states) else (
        "fail" if "fail" in states else "unknown")
    return {"cluster_state": state, "slots": f"{slots_ok}/{ALL_SLOTS}"}


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
        *,
        keys: RemoteKeySet | None = None,
        feed: RevocationFeed | None = None,
    ) -> None:
        self.upstreams = upstreams
        self.redis = redis
        self.breaker = breaker
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.keys = keys
        self.feed = feed
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

    async def _redis(self) -> dict[str, str]:
        if self.redis is None:
            return {"redis": "disabled"}
        try:
            async with asyncio.timeout(self.timeout):
                replies = await self.redis.on_masters(b"CLUSTER", b"INFO", each=True)
        except TimeoutError:  # a master that never answers holds the whole probe
            return {"redis": "timeout"}
        except Exception as exc:  # no slot map at all
            return {"redis": type(exc).__name__}
        failed = [r for r in replies if isinstance(r, BaseException)]
        answered = [r for r in replies if not isinstance(r, BaseException)]
        if not answered:
            return {"redis": type(failed[0]).__name__}
        # The masters that answered still say how the cluster sees itself (a failover
        # under way, slots uncovered), which is what an operator needs at that moment.
        status = "ok" if not failed else (
            f"{type(failed[0]).__name__} from {len(failed)} of {len(replies)} masters")
        return {"redis": status, **_cluster_info(answered)}

    async def _run(self) -> tuple[bool, dict[str, str]]:
        names = list(self.upstreams)
        redis, upstreams = await asyncio.gather(
            self._redis(), asyncio.gather(*(self._upstream(self.upstreams[n]) for n in names)))
        checks = {**redis, **dict(zip(names, upstreams, strict=True))}
        ready = all(checks[n] == "ok" for n in names)
        if self.keys is not None:
            checks["jwks"] = "ok" if self.keys.loaded else "missing"
            ready = ready and self.keys.loaded
        return ready, checks

    async def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, details); details include the limiter mode."""
        async with self._lock:
            if time.monotonic() - self._checked_at >= self.cache_seconds:
                self._result = await self._run()
                self._checked_at = time.monotonic()
            ready, checks = self._result
        if self.feed is not None:  # read live: it changes without a round trip
            checks = {**checks, "revocations": self.feed.state}
        if self.breaker is None:
            mode = "disabled"
        else:
            mode = "fallback" if self.breaker.degraded or checks["redis"] != "ok" else "redis"
        return ready, {**checks, "ratelimit": mode}
