"""Sessions in the Redis Cluster: one refresh-token family each, every session of a user in
the slot of the hash tag `{u:<user id>}`, so a user's index and sessions change together in
one atomic script (a failover replicates all of an update or none of it).

    sess:{u:U}            zset  session id -> its expiry (Unix ms): the user's live sessions
    sess:{u:U}:<sid>      hash  created, last_used, auth_time (Unix s; a session from
                                before auth_time reads as its creation), ip, ua, amr, revoked
                                ("" while live, else why it ended: logout, ended,
                                admin, evicted, reused, user_inactive)
    rt:{u:U}:<sid>:t:<h>  hash  token state live|spent, spent_at (ms, Redis clock), next
    rt:{u:U}:<sid>:g:<h>  hash  the successor pair handed out for token <h>, kept only for
                                the grace window (a retry gets the same pair back)

A session lives REFRESH_TOKEN_TTL_SECONDS from its last rotation; its index score is that
expiry, so expired entries are pruned by score and the lowest score is the least recently
used session, the one the per-user bound ends. `last_used` is written by the rotation
script itself: using a session costs no extra write. An ended session keeps its hash (with
the reason) until it expires, so a late presentation of its token is told why."""

from dataclasses import dataclass
from typing import Any

from auth_service import session_scripts as lua
from auth_service.redis_store import RedisStore
from auth_service.refresh_tokens import Presentation, Verdict
from auth_service.tokens import RefreshToken, TokenPair, hash_refresh_token


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as its owner may see it."""

    id: str
    created_at: int  # Unix seconds
    last_used_at: int
    ip: str
    user_agent: str
    amr: list[str]


@dataclass(frozen=True, slots=True)
class NewSession:
    user_id: str
    session_id: str
    refresh_token: str
    ip: str
    user_agent: str
    amr: list[str]
    created: int | None = None  # Unix seconds; None: now (a legacy family keeps its own)
    auth_time: int | None = None  # when a factor was last proved; None: at `created`


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _tag(user_id: str) -> str:
    return f"{{u:{user_id}}}"


def _index(user_id: str) -> str:
    return f"sess:{_tag(user_id)}"


def _session_prefix(user_id: str) -> str:
    return f"sess:{_tag(user_id)}:"


def _token_key(user_id: str, session_id: str, kind: str, token_hash: str) -> str:
    return f"rt:{_tag(user_id)}:{session_id}:{kind}:{token_hash}"


class SessionStore:
    """Sessions of users: create (bounded per user), check, rotate, end, list."""

    def __init__(self, store: RedisStore, *, ttl_seconds: int, grace_seconds: float,
                 max_per_user: int) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.grace_ms = int(grace_seconds * 1000)
        self.max_per_user = max_per_user
        self._create = store.register_script(lua.CREATE)
        self._present = store.register_script(lua.PRESENT)
        self._end = store.register_script(lua.END)
        self._list = store.register_script(lua.LIST)
        self._reauthenticated = store.register_script(lua.REAUTHENTICATED)

    async def create(self, new: NewSession) -> list[str] | None:
        """Store the session (or add the token to it, when it exists): the ids of the
        sessions the per-user bound ended to make room, or None when this session had
        already ended (no token was added)."""
        uid, sid = new.user_id, new.session_id
        keys = [_index(uid), _session_prefix(uid) + sid,
                _token_key(uid, sid, "t", hash_refresh_token(new.refresh_token))]
        args: list[str | int] = [
            sid, self.ttl_seconds, self.max_per_user, new.ip, new.user_agent,
            " ".join(new.amr), "" if new.created is None else new.created,
            _session_prefix(uid), "" if new.auth_time is None else new.auth_time]
        reply = await self.store.run(
            lambda: self._create.durably(keys=keys, args=args, what="session_create"),
            what="session_create")
        if _text(reply[0]) == "revoked":
            return None
        return [_text(evicted) for evicted in reply[1:]]

    def _present_keys(self, token: RefreshToken) -> list[str]:
        assert token.user_id is not None
        uid, sid = token.user_id, token.family
        return [_session_prefix(uid) + sid, _token_key(uid, sid, "t", token.token_hash),
                _token_key(uid, sid, "g", token.token_hash)]

    def _presentation(self, token: RefreshToken, reply: list[Any]) -> Presentation:
        verdict: Verdict = _text(reply[0])  # type: ignore[assignment]
        if verdict == "revoked":
            return Presentation(verdict, token.user_id, reason=_text(reply[1]))
        if verdict == "replay":
            pair = TokenPair(_text(reply[2]), _text(reply[1]), int(_text(reply[3])))
            return Presentation(verdict, token.user_id, pair=pair)
        amr = _text(reply[1]).split() if len(reply) > 1 else []
        auth_time = _text(reply[2]) if len(reply) > 2 else ""
        return Presentation(verdict, token.user_id, amr=amr,
                            auth_time=int(auth_time) if auth_time.isdigit() else None)

    async def check(self, token: RefreshToken) -> Presentation:
        """Read the token's state; a spent token outside the grace window marks the session
        ended (verdict `reused`). Checks are not waited on (they rarely write): the caller
        ends the session again with `end`, durably, before anyone is told."""
        assert token.user_id is not None
        # The successor key is unused in check mode (it only has to be in the same slot).
        keys = [*self._present_keys(token), _token_key(token.user_id, token.family, "t", "-"),
                _index(token.user_id)]
        args: list[str | int] = ["check", self.grace_ms, self.ttl_seconds, "", "", "", "",
                                 token.family]
        reply = await self.store.run(lambda: self._present(keys=keys, args=args),
                                     what="refresh_check")
        return self._presentation(token, reply)

    async def rotate(self, token: RefreshToken, successor: TokenPair) -> Presentation:
        """Spend `token` for `successor`, unless someone else just did (then: their pair)."""
        assert token.user_id is not None
        successor_hash = hash_refresh_token(successor.refresh_token)
        keys = [*self._present_keys(token),
                _token_key(token.user_id, token.family, "t", successor_hash),
                _index(token.user_id)]
        args: list[str | int] = [
            "rotate", self.grace_ms, self.ttl_seconds, successor.refresh_token,
            successor.access_token, successor.expires_in, successor_hash, token.family]
        # Safe to retry: a try that was applied but not answered left this token spent
        # with `successor` kept for the grace window, so the retry replays it.
        reply = await self.store.run(
            lambda: self._present.durably(keys=keys, args=args, what="refresh_rotate"),
            what="refresh_rotate")
        return self._presentation(token, reply)

    async def drop_token(self, user_id: str, session_id: str, refresh_token: str) -> None:
        """Forget a token that was never handed out (a migration that lost a race)."""
        key = _token_key(user_id, session_id, "t", hash_refresh_token(refresh_token))
        await self.store.execute(key, "DEL", key, what="session_drop_token")

    async def end(self, user_id: str, session_ids: list[str], *, reason: str) -> list[str]:
        """End these sessions of `user_id`: the ids among them that are (now or already)
        ended sessions of that user; ids of other users' sessions are never touched, their
        keys being in the other user's slot."""
        if not session_ids:
            return []
        args = [reason, _session_prefix(user_id), *session_ids]
        reply = await self.store.run(
            lambda: self._end.durably(keys=[_index(user_id)], args=args, what="session_end"),
            what="session_end")
        return [sid for sid, state in zip(session_ids, reply, strict=True) if int(state) > 0]

    async def reauthenticated(self, user_id: str, session_id: str, *, auth_time: int,
                              amr: list[str]) -> bool:
        """Record a step-up on the session, so its refreshes carry it forward; False when
        the session is not live."""
        key = _session_prefix(user_id) + session_id
        args: list[str | int] = [auth_time, " ".join(amr)]
        reply = await self.store.run(
            lambda: self._reauthenticated.durably(keys=[key], args=args,
                                                  what="session_reauthenticated"),
            what="session_reauthenticated")
        return int(reply) == 1

    async def live(self, user_id: str) -> list[SessionInfo]:
        """The user's live sessions, most recently used first."""
        reply = await self.store.run(
            lambda: self._list(keys=[_index(user_id)], args=[_session_prefix(user_id)]),
            what="session_list")
        values = [_text(value) for value in reply]
        sessions = [
            SessionInfo(id=values[i], created_at=int(values[i + 1]),
                        last_used_at=int(values[i + 2]), ip=values[i + 3],
                        user_agent=values[i + 4], amr=values[i + 5].split())
            for i in range(0, len(values), 6)
        ]
        return sorted(sessions, key=lambda s: (s.last_used_at, s.created_at), reverse=True)
