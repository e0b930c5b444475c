"""Exact sliding-window-log rate limiting on the Redis Cluster: one Lua script, one key,
one round trip per request.

The key `<prefix>:{<bucket>:<ip>}` is a sorted set of the allowed requests' timestamps
(µs, from the Redis server's clock so every gateway process agrees). Scripts on one key
run atomically, so no interleaving of concurrent requests can admit more than N in any
W-second window; refused requests are never added, so they do not count."""

import asyncio
import itertools
import math
import os
from dataclasses import dataclass

from gateway.config import RoutePolicy
from gateway.fallback import CircuitBreaker, FallbackLimiter
from gateway.headers import Header
from shared import get_logger
from shared.redis import ClusterCommands, Script

_log = get_logger("ratelimit")

# Numbers are passed to redis.call as strings: Lua would print 16-digit µs values as
# %.14g and lose precision.
SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local member = ARGV[3]
local window = window_ms * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local count = redis.call('ZCARD', key)
local allowed = 0
if redis.call('ZSCORE', key, member) then
  allowed = 1
elseif count < limit then
  redis.call('ZADD', key, string.format('%.0f', now), member)
  redis.call('PEXPIRE', key, window_ms)
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset_ms = window_ms
if oldest[2] then
  reset_ms = math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
end
return {allowed, limit - count, reset_ms, member}
"""
# Idempotent per request: ARGV[3] is unique to one request, so a call sent again after its
# reply was lost finds its own member and answers "allowed" without counting the request
# twice. The member is echoed back so a reply can never be taken for another request's
# (docs/decisions/0003-limiter-during-slot-migration.md).
SLIDING_WINDOW = Script(SLIDING_WINDOW_LUA)


class MismatchedReply(Exception):
    """The script's reply was not the answer to this request (another member, or not the
    script's shape at all)."""


def _decision(reply: object, member: str) -> "Decision":
    match reply:
        case [int(allowed), int(remaining), int(reset_ms), bytes(echoed)] \
                if echoed == member.encode():
            return Decision(bool(allowed), remaining, reset_ms, "redis")
    raise MismatchedReply(repr(reply)[:200])


async def _settled_within(call: "asyncio.Future[object]", seconds: float) -> bool:
    """Wait for `call` at most `seconds`, never cancelling it; True when it has settled.
    (asyncio.timeout + shield do the same with a task and a cancellation per request.)"""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(seconds, wake)
    call.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        call.remove_done_callback(wake)
    return call.done()


def _consume(call: "asyncio.Future[object]") -> None:
    """Retrieve a background call's outcome (it was logged as a breaker failure already)."""
    if not call.cancelled():
        call.exception()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    reset_ms: int  # until the oldest allowed request leaves the window
    source: str  # "redis" or "fallback"


class CompiledPolicy:
    """A policy with its key prefix, script arguments and constant headers pre-built."""

    __slots__ = ("fail_closed", "key_prefix", "limit", "limit_header", "name_sf",
                 "policy", "policy_header", "window_ms")

    def __init__(self, policy: RoutePolicy, key_prefix: str) -> None:
        self.policy = policy
        self.limit = policy.limit
        self.window_ms = policy.window * 1000
        self.fail_closed = policy.fail_mode == "closed"
        # A route template's braces (`/auth/sessions/{session_id}`) would end the key's hash
        # tag early and put every client of the policy in one slot.
        tag = policy.name.replace("{", "(").replace("}", ")")
        self.key_prefix = f"{key_prefix}:{{{tag}:"
        self.name_sf = f'"{policy.name}"'.encode()
        self.policy_header = (b"ratelimit-policy",
                              self.name_sf + f";q={policy.limit};w={policy.window}".encode())
        self.limit_header = (b"x-ratelimit-limit", str(policy.limit).encode())

    def key(self, client_ip: str) -> str:
        return f"{self.key_prefix}{client_ip}}}"

    def headers(self, decision: Decision) -> list[Header]:
        """The rate-limit headers every response carries (Retry-After added on refusal)."""
        reset = str(math.ceil(decision.reset_ms / 1000)).encode()
        remaining = str(decision.remaining).encode()
        headers = [
            self.policy_header,
            (b"ratelimit", self.name_sf + b";r=" + remaining + b";t=" + reset),
            self.limit_header,
            (b"x-ratelimit-remaining", remaining),
            (b"x-ratelimit-reset", reset),
        ]
        if not decision.allowed:
            headers.append((b"retry-after", reset))
        return headers


class RateLimiter:
    """Redis first, bounded by `budget` seconds; the fallback limiter (or a refusal, for
    fail-closed policies) when Redis errs, is slow, or the breaker is open."""

    def __init__(
        self,
        redis: ClusterCommands,
        fallback: FallbackLimiter,
        breaker: CircuitBreaker,
        budget: float,
    ) -> None:
        self.redis = redis
        self.fallback = fallback
        self.breaker = breaker
        self.budget = budget
        # Unique sorted-set members across processes without a second round trip.
        self._nonce = f"{os.getpid():x}.{os.urandom(4).hex()}."
        self._counter = itertools.count()

    @property
    def redirects(self) -> int:
        return self.redis.redirects

    async def warm_up(self) -> None:
        """Discover the cluster and load the script on every primary, so the first
        requests do not spend their Redis budget on it (and fall back needlessly)."""
        await self.redis.initialize(SLIDING_WINDOW)

    async def check(self, policy: CompiledPolicy, client_ip: str) -> Decision | None:
        """The decision for one request; None when it must be refused as unavailable."""
        key = policy.key(client_ip)
        if self.breaker.allow():
            member = f"{self._nonce}{next(self._counter)}"
            # The budget ends our wait, never the call itself, so a slow reply or a
            # slot-map read finishes in the background instead of being redone under the
            # next request's budget.
            call = self.redis.evalsha_now(
                SLIDING_WINDOW, (key,), (policy.limit, policy.window_ms, member))
            call.add_done_callback(_consume)
            try:
                if not await _settled_within(call, self.budget):
                    raise TimeoutError(f"no Redis decision within {self.budget} s")
                decision = _decision(call.result(), member)
            except Exception as exc:  # any Redis trouble, incl. our own budget timeout
                self.breaker.failure(type(exc).__name__)
                if "NOPERM" in str(exc):  # a misconfiguration, not an outage: say which
                    _log.error("redis_permission_denied", key_prefix=policy.key_prefix,
                               hint="the gateway's ACL user allows keys rl:* only; "
                                    "RATE_LIMIT_KEY_PREFIX and users.acl must agree")
            else:
                self.breaker.success()
                return decision
        if policy.fail_closed:
            return None
        allowed_fb, remaining_fb, reset_fb = self.fallback.hit(
            key, policy.limit, policy.window_ms / 1000)
        return Decision(allowed_fb, remaining_fb, reset_fb, "fallback")
