"""The second step of a login with MFA, and the guard against replayed TOTP codes, in the
Redis Cluster under the auth service's `totp:` prefix.

    totp:{t:<id>}       hash    user, h (SHA-256 of the secret), amr (the factors proved so
                                far: "pwd"), ip, acct + dev (the throttle's account hash and
                                the client's device id, for the device token of the sign-in),
                                fails (wrong codes so far); TTL MFA_TOKEN_TTL_SECONDS
    totp:{u:<user>}:last string the last TOTP step accepted for the user (and a nonce)

An mfa_token is `<id>.<secret>`, shaped like the mailed tokens (auth_service.account_tokens):
only the secret's hash is stored and compared in constant time. It is spent by the sign-in
it completes (a script deletes it if its hash is still the one compared, so of two
concurrent presentations one wins); a wrong code does not spend it but counts, and the
MFA_TOKEN_MAX_FAILURES-th wrong code deletes it, so one correct password buys a handful
of guesses, not a million.

A TOTP code is valid for three 30 s steps; without the guard, a code seen over a shoulder
could be replayed within that minute. The guard keeps the last accepted step per user and
accepts only a later one (compare-and-set in a script, acknowledged by a replica so a
failover cannot roll it back and re-open a spent code)."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from auth_service.redis_store import RedisStore

_ID_BYTES, _SECRET_BYTES = 16, 32
_MAX_TOKEN_LENGTH = 200

# KEYS: token. ARGV: ttl_s, then field/value pairs.
_ISSUE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS: token. ARGV: the hash the caller compared, max failures. Reply: failures left
# (0: the token is gone), -1 when the token was no longer this one.
_FAIL = """
if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return -1 end
local fails = redis.call('HINCRBY', KEYS[1], 'fails', 1)
local left = tonumber(ARGV[2]) - fails
if left <= 0 then redis.call('DEL', KEYS[1]); return 0 end
return left
"""

# KEYS: token. ARGV: the hash the caller compared. 1 when this call spent it.
_SPEND = """
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: the user's last accepted step. ARGV: the step, a nonce of this acceptance, ttl_s.
# 1: accepted (now the last). The nonce makes a retried try of the same acceptance (applied,
# but its answer lost in a failover) accepted again instead of refused as a replay.
_ACCEPT_STEP = """
local last = redis.call('GET', KEYS[1])
local step, nonce = tonumber(ARGV[1]), ARGV[2]
if last then
  local sep = string.find(last, ' ', 1, true)
  local last_step = tonumber(sep and string.sub(last, 1, sep - 1) or last)
  if step == last_step and sep and string.sub(last, sep + 1) == nonce then return 1 end
  if step <= last_step then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. nonce, 'EX', tonumber(ARGV[3]))
return 1
"""
# The guard needs to outlive only the window in which a code is valid (3 steps of 30 s);
# a day is far more, and keeps an idle user's key from living forever.
_LAST_STEP_TTL_SECONDS = 86400


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """A live mfa_token as the second step reads it."""

    token_id: str
    token_hash: str
    user_id: str
    amr: list[str]  # factors proved so far
    client_ip: str  # where the password was given
    account: str  # the throttle's keyed hash of the e-mail (device tokens are bound to it)
    device: str | None  # the client's device id, if it showed a device token


def _key(token_id: str) -> str:
    return f"totp:{{t:{token_id}}}"


def _last_step_key(user_id: str) -> str:
    return f"totp:{{u:{user_id}}}:last"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class MfaTokens:
    def __init__(self, store: RedisStore, *, ttl_seconds: int, max_failures: int) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.max_failures = max_failures
        self._issue = store.register_script(_ISSUE)
        self._fail = store.register_script(_FAIL)
        self._spend = store.register_script(_SPEND)
        self._accept = store.register_script(_ACCEPT_STEP)

    async def issue(self, *, user_id: str, amr: list[str], client_ip: str, account: str,
                    device: str | None) -> str:
        """A new mfa_token for the password step just passed."""
        token_id = secrets.token_urlsafe(_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        fields = {"user": user_id, "h": _digest(secret), "amr": " ".join(amr),
                  "ip": client_ip, "acct": account, "dev": device or "", "fails": "0"}
        args: list[str | int] = [self.ttl_seconds]
        for name, value in fields.items():
            args += [name, value]
        key = _key(token_id)
        await self.store.run(
            lambda: self._issue.durably(keys=[key], args=args, what="mfa_token_issue"),
            what="mfa_token_issue")
        return f"{token_id}.{secret}"

    async def read(self, token: str) -> MfaChallenge | None:
        """The token's challenge, or None when it is malformed, unknown, expired or spent."""
        token_id, dot, secret = token.partition(".")
        if not dot or not token_id or not secret or len(token) > _MAX_TOKEN_LENGTH:
            return None
        key = _key(token_id)
        raw = await self.store.execute(key, "HGETALL", key, what="mfa_token_read")
        values = [_text(value) for value in raw] if isinstance(raw, list) else []
        fields = dict(zip(values[::2], values[1::2], strict=True))
        presented = _digest(secret)
        if not hmac.compare_digest(presented.encode(), fields.get("h", "").encode()):
            return None
        if not fields.get("user"):
            return None
        return MfaChallenge(token_id=token_id, token_hash=presented, user_id=fields["user"],
                            amr=fields.get("amr", "pwd").split(), client_ip=fields.get("ip", ""),
                            account=fields.get("acct", ""), device=fields.get("dev") or None)

    async def wrong_code(self, challenge: MfaChallenge) -> int:
        """Count a wrong code against the token: how many it survives still (0: it died)."""
        key = _key(challenge.token_id)
        args: list[str | int] = [challenge.token_hash, self.max_failures]
        left = await self.store.run(
            lambda: self._fail.durably(keys=[key], args=args, what="mfa_token_fail"),
            what="mfa_token_fail")
        return max(0, int(left))

    async def spend(self, challenge: MfaChallenge) -> bool:
        """Spend the token: False when someone else just did (or it died meanwhile)."""
        key = _key(challenge.token_id)
        spent = await self.store.run(
            lambda: self._spend.durably(keys=[key], args=[challenge.token_hash],
                                        what="mfa_token_spend"),
            what="mfa_token_spend")
        return int(spent) == 1

    async def accept_step(self, user_id: str, step: int) -> bool:
        """Record `step` as the user's last accepted TOTP step; False when it is not later
        than the last one (a replayed, or older, code)."""
        key = _last_step_key(user_id)
        args: list[str | int] = [step, secrets.token_hex(8), _LAST_STEP_TTL_SECONDS]
        accepted = await self.store.run(
            lambda: self._accept.durably(keys=[key], args=args,
                                         what="totp_step_accept"),
            what="totp_step_accept")
        return int(accepted) == 1
