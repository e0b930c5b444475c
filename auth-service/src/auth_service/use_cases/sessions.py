"""Sessions: start (within the per-user bound), list, end; every ending is published to the
revocation log, so the session's access tokens are refused at every verifier too."""

import uuid

from auth_service.errors import NotAdmin, UserNotFound
from auth_service.metrics import SESSIONS_ENDED
from auth_service.revocations import RevocationPublisher
from auth_service.session_store import NewSession, SessionInfo, SessionStore
from auth_service.tokens import SESSION_ID_RE
from auth_service.use_cases.second_factor import StepUp
from auth_service.users_client import UsersClient
from shared import Principal


class Sessions:
    def __init__(self, *, store: SessionStore, publisher: RevocationPublisher) -> None:
        self.store = store
        self.publisher = publisher

    async def start(self, new: NewSession) -> bool:
        """Store a session (or a migrated family's next token); False when that session
        had already ended. Sessions the bound ends to make room are published."""
        evicted = await self.store.create(new)
        if evicted is None:
            return False
        await self._ended(new.user_id, evicted, reason="evicted")
        return True

    async def live(self, user_id: str) -> list[SessionInfo]:
        return await self.store.live(user_id)

    async def end(self, user_id: str, session_id: str, *, reason: str) -> None:
        """End one session of `user_id` (idempotent; an id that is not theirs: nothing).
        Written, then published: a retry finds it ended and publishes it again."""
        if not SESSION_ID_RE.fullmatch(session_id):
            return
        ended = await self.store.end(user_id, [session_id], reason=reason)
        await self._ended(user_id, ended, reason=reason)

    async def end_all(self, user_id: str, *, keep: str | None, reason: str) -> None:
        """End every live session of `user_id` but `keep`."""
        live = [s.id for s in await self.store.live(user_id) if s.id != keep]
        # Published before they are ended: a request that fails half-way is retried by
        # its client, and the retry still lists (and publishes) the ones not yet ended.
        await self.publisher.sessions_ended(live, reason=reason)
        ended = await self.store.end(user_id, live, reason=reason)
        SESSIONS_ENDED.labels(reason).inc(len(ended))

    async def _ended(self, user_id: str, session_ids: list[str], *, reason: str) -> None:
        await self.publisher.sessions_ended(session_ids, reason=reason)
        SESSIONS_ENDED.labels(reason).inc(len(session_ids))


class SessionAdmin:
    """Who may administer another user's sessions, and whose they are."""

    def __init__(self, *, users: UsersClient, step_up: StepUp) -> None:
        self.users = users
        self.step_up = step_up

    async def target(self, principal: Principal, user_id: str) -> str:
        """The user id to act on; NotAdmin unless the caller is an admin by the token AND
        by the account now (a demotion takes effect at once); StepUpRequired when the
        admin's account has MFA and the token shows no recent second factor; UserNotFound."""
        caller = await self.users.get_user(principal.subject) if principal.is_admin else None
        if caller is None or caller.get("role") != "admin" or not caller.get("is_active"):
            raise NotAdmin
        self.step_up.require(principal, mfa_enabled=bool(caller.get("mfa_enabled")))
        try:
            user_id = str(uuid.UUID(user_id))  # the user service's ids; anything else: none
        except ValueError:
            raise UserNotFound from None
        if await self.users.get_user(user_id) is None:
            raise UserNotFound
        return user_id
