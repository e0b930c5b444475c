"""Login throttling: consecutive failures per account and per client IP grow a delay.

Each counter is one Redis hash `lt:{a:<sha256(email)>}` / `lt:{ip:<address>}` with fields
`n` (consecutive failures) and `until` (ms, Redis clock). After the free allowance each
failure doubles the delay up to a cap; the key expires a window after the last failure,
so there is never a permanent lockout. Attempts refused with 429 do not count."""

import hashlib
import math

from auth_service.redis_store import RedisStore, both

_NOW_MS = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

_CHECK = _NOW_MS + """
local until_ms = redis.call('HGET', KEYS[1], 'until')
if not until_ms then return 0 end
return math.max(0, tonumber(until_ms) - now_ms)
"""

# ARGV: free failures, base delay ms, max delay ms, window ms
_FAIL = _NOW_MS + """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free, base, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local delay = 0
if n > free then
  delay = math.floor(math.min(base * 2 ^ math.min(n - free - 1, 60), cap))
  redis.call('HSET', KEYS[1], 'until', now_ms + delay)
end
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), delay))
return delay
"""


def account_key(email: str) -> str:
    # Hashed: the keyspace need not hold e-mail addresses.
    return f"lt:{{a:{hashlib.sha256(email.encode()).hexdigest()[:32]}}}"


def ip_key(client_ip: str) -> str:
    return f"lt:{{ip:{client_ip}}}"


class LoginThrottle:
    def __init__(
        self, store: RedisStore, *, account_free: int, ip_free: int, base_delay: float,
        max_delay: float, window: int,
    ) -> None:
        self.store = store
        self.account_free = account_free
        self.ip_free = ip_free
        self.base_ms = int(base_delay * 1000)
        self.max_ms = int(max_delay * 1000)
        self.window_ms = window * 1000
        self._check = store.register_script(_CHECK)
        self._fail = store.register_script(_FAIL)

    async def retry_after(self, email: str, client_ip: str) -> int:
        """Seconds the caller must wait before trying again (0: go ahead)."""
        # Two slots, so two scripts, but sent concurrently: one round trip of latency.
        waits = await self.store.run(
            lambda: both(self._check(keys=[account_key(email)]),
                         self._check(keys=[ip_key(client_ip)])),
            what="throttle_check",
        )
        return math.ceil(max(int(w) for w in waits) / 1000)

    async def record_failure(self, email: str, client_ip: str) -> None:
        await self.store.run(
            lambda: both(
                self._fail(keys=[account_key(email)],
                           args=[self.account_free, self.base_ms, self.max_ms, self.window_ms]),
                self._fail(keys=[ip_key(client_ip)],
                           args=[self.ip_free, self.base_ms, self.max_ms, self.window_ms]),
            ),
            what="throttle_fail",
        )

    async def record_success(self, email: str) -> None:
        # The IP counter stays: one good account must not launder an IP's guesses at others.
        key = account_key(email)
        await self.store.execute(key, "DEL", key, what="throttle_reset")
