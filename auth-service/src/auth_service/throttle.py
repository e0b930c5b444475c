"""Login throttling that no stranger can turn into a lockout (OWASP's device-cookie model).

Who is asking decides which counters apply. A client is *known* to an account when it
presents a device token a successful login to that account issued (auth_service.device_tokens)
or comes from an IP that signed in to it successfully (the last THROTTLE_KNOWN_IPS_PER_ACCOUNT,
for THROTTLE_KNOWN_IP_TTL_SECONDS). Counters, each a Redis hash `n` (consecutive failures) +
`until` (ms, Redis clock), growing a doubling delay after its free allowance:

| counter | key | counts failures of | slows |
|---|---|---|---|
| own | `lt:{a:A}:ip:<ip>`, `lt:{a:A}:dev:<device>` | that IP (device) on A | it |
| strangers | `lt:{a:A}` | clients unknown to A | unknown clients of A |
| IP | `lt:{ip:<ip>}` | that IP on any account (stuffing) | it, where unknown |
| password | `lt:{pw:P}` | unknown clients trying P anywhere (spraying) | them, trying P |

A known client is checked against its own counter only, so failures from anywhere else never
slow the owner down; an attacker who wants that exemption needs the owner's device token or
address. Password spraying (one password, many accounts, many IPs) is caught by the password
counter: P is a truncated HMAC-SHA256 of the tried password under a key derived from
THROTTLE_SECRET, never the password or a fast unkeyed hash a Redis reader could reverse with a
dictionary; it expires with the window like every counter. (A global failure-rate signal was
the alternative: it would slow every unknown client during any attack, where this slows only
those who try the sprayed passwords.)

A is a keyed hash of the normalised e-mail, so the keyspace holds no addresses; an unknown
e-mail runs exactly the same Redis calls as a wrong password. Checks run before any work and
are one round trip: the account's keys share one slot, and the three slots' scripts are sent
concurrently. A success clears the own counters and remembers the IP; the strangers, IP and
password counters stay, so a login cannot launder guesses. Attempts refused with 429 do not
count; delays are capped and keys expire a window after the last failure: never a
permanent lockout."""

import hashlib
import hmac
import math
from collections.abc import Awaitable
from dataclasses import dataclass

from auth_service.device_tokens import DeviceTokens, derive_key
from auth_service.redis_store import RedisStore, both

_NOW_MS = """
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function wait_of(key)
  local until_ms = redis.call('HGET', key, 'until')
  if not until_ms then return 0 end
  return math.max(0, tonumber(until_ms) - now_ms)
end
"""

_CHECK = _NOW_MS + "return wait_of(KEYS[1])"

# KEYS: strangers counter, known IPs, own counter; ARGV: client IP, known-IP max age ms.
# Reply: {1 if the IP signed in to the account recently, own wait, strangers' wait} (ms).
_CHECK_ACCOUNT = _NOW_MS + """
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
local known = 0
if seen and tonumber(seen) >= now_ms - tonumber(ARGV[2]) then known = 1 end
return {known, wait_of(KEYS[3]), wait_of(KEYS[1])}
"""

# KEYS: counters of one slot; ARGV: base delay ms, max delay ms, window ms, then the free
# failures of each key in order. Reply: the longest delay set (ms).
_FAIL = _NOW_MS + """
local base, cap, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local longest = 0
for i, key in ipairs(KEYS) do
  local n = redis.call('HINCRBY', key, 'n', 1)
  local free = tonumber(ARGV[3 + i])
  local delay = 0
  if n > free then
    delay = math.floor(math.min(base * 2 ^ math.min(n - free - 1, 60), cap))
    redis.call('HSET', key, 'until', now_ms + delay)
  end
  redis.call('PEXPIRE', key, math.max(window, delay))
  longest = math.max(longest, delay)
end
return longest
"""

# KEYS: known IPs, then the own counters to clear; ARGV: client IP, max age ms, max IPs.
_SUCCESS = _NOW_MS + """
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('ZADD', KEYS[1], now_ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """Free failures per counter, the delay curve and the memory of known IPs."""

    own_free: int
    account_free: int
    ip_free: int
    password_free: int
    base_delay: float
    max_delay: float
    window: int
    known_ips: int
    known_ip_ttl: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One login attempt as the throttle sees it: keyed hashes, never the secrets."""

    account: str  # keyed hash of the normalised e-mail
    client_ip: str
    password: str  # keyed, truncated hash of the tried password
    device: str | None  # id of a valid device token for this account

    @property
    def strangers_key(self) -> str:
        return f"lt:{{a:{self.account}}}"

    @property
    def known_key(self) -> str:
        return f"lt:{{a:{self.account}}}:known"

    @property
    def pair_key(self) -> str:
        return f"lt:{{a:{self.account}}}:ip:{self.client_ip}"

    @property
    def own_key(self) -> str:
        if self.device is not None:
            return f"lt:{{a:{self.account}}}:dev:{self.device}"
        return self.pair_key

    @property
    def ip_key(self) -> str:
        return f"lt:{{ip:{self.client_ip}}}"

    @property
    def password_key(self) -> str:
        return f"lt:{{pw:{self.password}}}"


@dataclass(frozen=True, slots=True)
class Verdict:
    retry_after: int  # seconds to wait (0: go ahead)
    known: bool  # by device token or by address: only its own counter applies
    counter: str  # the one that decided: own | strangers | ip | password (for the logs)


class LoginThrottle:
    def __init__(self, store: RedisStore, devices: DeviceTokens, *, secret: str,
                 policy: Policy) -> None:
        self.store = store
        self.devices = devices
        self.policy = policy
        self._account_key = derive_key(secret, "throttle-account")
        self._password_key = derive_key(secret, "throttle-password")
        self._delays = [int(policy.base_delay * 1000), int(policy.max_delay * 1000),
                        policy.window * 1000]
        self._check = store.register_script(_CHECK)
        self._check_account = store.register_script(_CHECK_ACCOUNT)
        self._fail = store.register_script(_FAIL)
        self._success = store.register_script(_SUCCESS)

    def account_of(self, email: str) -> str:
        """The account's keyed hash: its counters' hash tag, what device tokens are bound to."""
        return hmac.new(self._account_key, email.encode(), hashlib.sha256).hexdigest()[:32]

    def attempt(self, email: str, password: str, client_ip: str,
                device_tokens: tuple[str | None, ...] = ()) -> Attempt:
        account = self.account_of(email)
        device = next((d for d in (self.devices.device_of(t, account) for t in device_tokens)
                       if d is not None), None)
        # 64 bits: no collisions between real passwords, and only a key holder can test a
        # guess against it.
        tag = hmac.new(self._password_key, password.encode(), hashlib.sha256).hexdigest()[:16]
        return Attempt(account, client_ip, tag, device)

    async def check(self, attempt: Attempt) -> Verdict:
        """How long `attempt` must wait, decided before any work is done for it."""
        # Three slots, so three scripts, sent concurrently: one round trip of latency. The
        # IP and password counters are read even for a known client, so that whether a
        # client is known does not show in the calls made.
        (known, own, strangers), (ip, password) = await self.store.run(
            lambda: both(
                self._check_account(keys=[attempt.strangers_key, attempt.known_key,
                                          attempt.own_key],
                                    args=[attempt.client_ip, self.policy.known_ip_ttl * 1000]),
                both(self._check(keys=[attempt.ip_key]),
                     self._check(keys=[attempt.password_key])),
            ),
            what="throttle_check",
        )
        is_known = attempt.device is not None or int(known) == 1
        waits = {"own": int(own)}
        if not is_known:
            waits |= {"strangers": int(strangers), "ip": int(ip), "password": int(password)}
        counter = max(waits, key=lambda name: waits[name])
        return Verdict(math.ceil(waits[counter] / 1000), is_known, counter)

    async def record_failure(self, attempt: Attempt, verdict: Verdict) -> None:
        p = self.policy
        account_keys, account_free = [attempt.own_key], [p.own_free]
        if not verdict.known:
            account_keys.append(attempt.strangers_key)
            account_free.append(p.account_free)

        def account() -> Awaitable[object]:
            return self._fail(keys=account_keys, args=[*self._delays, *account_free])

        def ip() -> Awaitable[object]:
            # Every failure from an IP counts against it, a known client's too: its
            # mistakes are still guesses from that address.
            return self._fail(keys=[attempt.ip_key], args=[*self._delays, p.ip_free])

        def password() -> Awaitable[object]:
            return self._fail(keys=[attempt.password_key],
                              args=[*self._delays, p.password_free])

        if verdict.known:  # a known client's typo is no spraying
            await self.store.run(lambda: both(account(), ip()), what="throttle_fail")
        else:
            await self.store.run(lambda: both(account(), both(ip(), password())),
                                 what="throttle_fail")

    async def record_success(self, attempt: Attempt) -> str:
        """Clear the client's own counters, remember its IP; its device token (renewed)."""
        keys = [attempt.known_key, attempt.pair_key]
        if attempt.device is not None:
            keys.append(attempt.own_key)
        await self.store.run(
            lambda: self._success(keys=keys, args=[attempt.client_ip,
                                                   self.policy.known_ip_ttl * 1000,
                                                   self.policy.known_ips]),
            what="throttle_reset",
        )
        return self.devices.issue(attempt.account, attempt.device)
