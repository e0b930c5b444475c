"""Publishing ended sessions to the revocation log (shared.redis), so every verifier refuses
their access tokens within about a second.

An entry matters as long as the access tokens it revokes can live: one access-token
lifetime from now (a token of the session issued a moment ago expires then at the latest),
which is also how long the log keeps it. The append goes through the store's retry path,
so a failover delays it instead of losing it, and is acknowledged by a replica (WAIT)."""

import time

from auth_service.metrics import REVOCATIONS_PUBLISHED, UNREPLICATED_WRITES
from auth_service.redis_store import RedisStore
from shared import get_logger
from shared.redis import Revocation, append_revocation

_log = get_logger("revocations")


class RevocationPublisher:
    def __init__(self, store: RedisStore, *, access_token_ttl: int) -> None:
        self.store = store
        self.access_token_ttl = access_token_ttl

    async def sessions_ended(self, session_ids: list[str], *, reason: str) -> None:
        """Append one `session` entry per id. A retried append may add an entry twice:
        harmless, verifiers keep a set."""
        for sid in session_ids:
            await self._append(Revocation(kind="session", id=sid,
                                          exp=int(time.time()) + self.access_token_ttl))
            REVOCATIONS_PUBLISHED.labels(reason).inc()
            _log.info("session_revocation_published", session_id=sid, reason=reason)

    async def _append(self, revocation: Revocation) -> None:
        redis = self.store.redis
        result = await self.store.run(
            lambda: append_revocation(redis, revocation,
                                      retention_seconds=self.access_token_ttl,
                                      replica_ack_ms=self.store.ack_timeout_ms),
            what="revocation_append")
        if result.replicas < 1:
            reason = "no_ack" if result.waited else "no_replica"
            UNREPLICATED_WRITES.labels("revocation_append", reason).inc()
            _log.warning("state_store_write_unreplicated", operation="revocation_append",
                         reason=reason)
