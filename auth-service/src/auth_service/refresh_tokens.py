"""Legacy refresh-token families (the tokens `<family>.<secret>` issued before sessions,
auth_service.session_store), every multi-key update one Lua script. They are read until
they expire; a family's first refresh migrates it to a session of the same id (use_cases/
refresh.py), so nothing new is written here but the spending of its last legacy token.

Keys of a family share the `{family}` hash tag, so each script runs in one slot and is
atomic: a failover replicates all of a rotation or none of it.

    rt:{F}:meta        hash  user, created, revoked (""/"logout"/"reused"/"user_inactive")
    rt:{F}:t:<sha256>  hash  state live|spent, spent_at (ms, Redis clock), next (successor hash)
    rt:{F}:g:<sha256>  hash  the successor pair handed out for that token, kept only for the
                             grace window (PEXPIRE), so a retry gets the same pair back; the
                             plaintext successor refresh token lives no longer than that.
"""

from dataclasses import dataclass
from typing import Any, Literal

from auth_service.redis_store import RedisStore
from auth_service.tokens import RefreshToken, TokenPair, hash_refresh_token

_CREATE = """
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'created', ARGV[3], 'revoked', '')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'state', 'live')
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# ARGV: mode (check|rotate), grace_ms, ttl_s, [successor refresh, access, expires_in, hash]
_PRESENT = """
local m = redis.call('HMGET', KEYS[1], 'user', 'revoked', 'created')
if not m[1] then return {'invalid'} end
if m[2] and m[2] ~= '' then return {'revoked', m[1], m[2]} end
local t = redis.call('HMGET', KEYS[2], 'state', 'spent_at')
if not t[1] then return {'invalid'} end
local grace_ms = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if t[1] == 'spent' then
  if now_ms - tonumber(t[2]) <= grace_ms then
    local g = redis.call('HMGET', KEYS[3], 'refresh', 'access', 'expires_in')
    if g[1] then return {'replay', m[1], g[1], g[2], g[3]} end
  end
  redis.call('HSET', KEYS[1], 'revoked', 'reused')
  return {'reused', m[1]}
end
if ARGV[1] == 'check' then return {'live', m[1], m[3]} end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'state', 'spent', 'spent_at', now_ms, 'next', ARGV[7])
redis.call('HSET', KEYS[4], 'state', 'live')
redis.call('EXPIRE', KEYS[4], ttl)
if grace_ms > 0 then
  redis.call('HSET', KEYS[3], 'refresh', ARGV[4], 'access', ARGV[5], 'expires_in', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], grace_ms)
end
redis.call('EXPIRE', KEYS[1], ttl)
return {'rotated', m[1]}
"""

# ARGV: owner ('' = anyone), reason. 1 when revoked now, 0 otherwise.
_REVOKE = """
local user = redis.call('HGET', KEYS[1], 'user')
if not user then return 0 end
if ARGV[1] ~= '' and user ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
return 1
"""

Verdict = Literal["invalid", "revoked", "reused", "live", "replay", "rotated"]


@dataclass(frozen=True, slots=True)
class Presentation:
    """What the store says about a presented refresh token."""

    verdict: Verdict
    user_id: str | None = None
    reason: str | None = None  # why a revoked family was revoked
    pair: TokenPair | None = None  # the successor pair, for a replay in the grace window
    amr: list[str] | None = None  # a live session's authentication methods
    auth_time: int | None = None  # when the live session last proved a factor (Unix s)
    created: int | None = None  # a live legacy family's creation (Unix seconds)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _presentation(reply: list[Any]) -> Presentation:
    verdict: Verdict = _text(reply[0])  # type: ignore[assignment]
    user_id = _text(reply[1]) if len(reply) > 1 else None
    if verdict == "revoked":
        return Presentation(verdict, user_id, reason=_text(reply[2]))
    if verdict == "replay":
        pair = TokenPair(_text(reply[3]), _text(reply[2]), int(_text(reply[4])))
        return Presentation(verdict, user_id, pair=pair)
    if verdict == "live" and len(reply) > 2:
        return Presentation(verdict, user_id, created=int(_text(reply[2])))
    return Presentation(verdict, user_id)


def _keys(family: str) -> tuple[str, str]:
    return f"rt:{{{family}}}:meta", f"rt:{{{family}}}:t:"


class RefreshTokenStore:
    """Legacy families of refresh tokens: check, rotate, revoke (create: only for tests of
    the migration, which need the state an older release wrote)."""

    def __init__(self, store: RedisStore, *, ttl_seconds: int, grace_seconds: float) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.grace_ms = int(grace_seconds * 1000)
        self._create = store.register_script(_CREATE)
        self._present = store.register_script(_PRESENT)
        self._revoke = store.register_script(_REVOKE)

    async def create_family(self, family: str, refresh_token: str, user_id: str, now: int) -> None:
        meta, prefix = _keys(family)
        token_key = prefix + hash_refresh_token(refresh_token)
        await self.store.run(
            lambda: self._create.durably(keys=[meta, token_key],
                                         args=[user_id, self.ttl_seconds, now],
                                         what="refresh_create"),
            what="refresh_create",
        )

    def _present_keys(self, token: RefreshToken) -> list[str]:
        meta, prefix = _keys(token.family)
        return [meta, prefix + token.token_hash, f"rt:{{{token.family}}}:g:{token.token_hash}"]

    async def check(self, token: RefreshToken) -> Presentation:
        """Read the token's state; a spent token outside the grace window revokes the family."""
        reply = await self.store.run(
            lambda: self._present(keys=self._present_keys(token),
                                  args=["check", self.grace_ms, self.ttl_seconds]),
            what="refresh_check",
        )
        seen = _presentation(reply)
        if seen.verdict == "reused":
            # The script marked the family revoked; checks are not waited on (they rarely
            # write), so the mark is written again, durably, before anyone is told.
            await self.revoke(token.family, reason="reused")
        return seen

    async def rotate(self, token: RefreshToken, successor: TokenPair) -> Presentation:
        """Spend `token` for `successor`, unless someone else just did (then: their pair)."""
        successor_hash = hash_refresh_token(successor.refresh_token)
        keys = [*self._present_keys(token), _keys(token.family)[1] + successor_hash]
        args: list[str | int] = ["rotate", self.grace_ms, self.ttl_seconds, successor.refresh_token,
                successor.access_token, successor.expires_in, successor_hash]
        # Safe to retry: a try that was applied but not answered left this token spent
        # with `successor` kept for the grace window, so the retry replays it.
        reply = await self.store.run(
            lambda: self._present.durably(keys=keys, args=args, what="refresh_rotate"),
            what="refresh_rotate",
        )
        return _presentation(reply)

    async def revoke(self, family: str, *, owner: str = "", reason: str) -> bool:
        """Revoke a whole family (only if `owner` matches when given)."""
        meta, _ = _keys(family)
        revoked = await self.store.run(
            lambda: self._revoke.durably(keys=[meta], args=[owner, reason],
                                         what="refresh_revoke"),
            what="refresh_revoke",
        )
        return bool(revoked)
