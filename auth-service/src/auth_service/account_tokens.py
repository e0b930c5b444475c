"""One-time tokens of the mailed account flows (verify an address, reset a password, confirm
an email change), in the Redis Cluster under the auth service's `mail:` prefix.

    mail:{t:<id>}  hash  kind, h (SHA-256 of the secret), and the flow's fields
                         (user, email, fp, ...); TTL = the kind's lifetime

A token is `<id>.<secret>`: the id names the key (a slot of its own, `{t:<id>}`), only the
SHA-256 of the secret is stored, and the presented secret's hash is compared with it in
constant time. Consuming is the only use: a script deletes the key if its hash is still the
one compared, so of two concurrent presentations exactly one gets the fields. Issue and
consume are acknowledged by a replica (`WAIT`), so a failover neither revives a spent
token nor loses a mailed one. Nothing here is ever read by a GET: the routes that consume
are POSTs (a link scanner's prefetch opens a page, it spends nothing)."""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Literal

from auth_service.redis_store import RedisStore

TokenKind = Literal["verify", "reset", "email_change"]
_ID_BYTES, _SECRET_BYTES = 16, 32

# KEYS: token. ARGV: ttl_s, then field/value pairs.
_ISSUE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS: token. ARGV: the hash the caller compared. 1 when this call spent it.
_SPEND = """
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _key(token_id: str) -> str:
    return f"mail:{{t:{token_id}}}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(reply: object) -> dict[str, str]:
    """HGETALL's flat [field, value, ...] reply as a dict."""
    if not isinstance(reply, list):
        return {}
    values = [_text(value) for value in reply]
    return dict(zip(values[::2], values[1::2], strict=True))


class AccountTokens:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self._issue = store.register_script(_ISSUE)
        self._spend = store.register_script(_SPEND)

    async def issue(self, kind: TokenKind, fields: Mapping[str, str], *, ttl: int) -> str:
        """A new token of `kind` carrying `fields`, valid `ttl` seconds."""
        token_id = secrets.token_urlsafe(_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        await self._write(_key(token_id), {**fields, "kind": kind, "h": _digest(secret)}, ttl)
        return f"{token_id}.{secret}"

    async def decoy(self, kind: TokenKind, *, ttl: int) -> None:
        """The same write as `issue`, of a token nobody gets (user ""), for a flow that
        must cost the same whether or not the address has an account."""
        key = _key(secrets.token_urlsafe(_ID_BYTES))
        await self._write(key, {"kind": kind, "user": "", "h": _digest("")}, ttl)

    async def _write(self, key: str, fields: Mapping[str, str], ttl: int) -> None:
        args: list[str | int] = [ttl]
        for name, value in fields.items():
            args += [name, value]
        await self.store.run(
            lambda: self._issue.durably(keys=[key], args=args, what="account_token_issue"),
            what="account_token_issue")

    async def consume(self, kind: TokenKind, token: str) -> dict[str, str] | None:
        """The token's fields, once: None when it is malformed, unknown, expired, of another
        kind, already spent, or spent concurrently by someone else."""
        token_id, dot, secret = token.partition(".")
        if not dot or not token_id or not secret or len(token) > 200:
            return None
        key = _key(token_id)
        raw = await self.store.execute(key, "HGETALL", key, what="account_token_read")
        fields = _pairs(raw)
        presented = _digest(secret)
        if not hmac.compare_digest(presented.encode(), fields.get("h", "").encode()):
            return None
        if fields.get("kind") != kind or not fields.get("user"):
            return None
        spent = await self.store.run(
            lambda: self._spend.durably(keys=[key], args=[presented], what="account_token_spend"),
            what="account_token_spend")
        return fields if int(spent) == 1 else None
