"""Revoking a user's access tokens when an admin disables, deletes or changes the role of
the account (issue 16): a `kind=user` entry in the revocation log (shared.redis), which
every verifier (each gateway, this service) applies within about a second.

The entry revokes every token of the user issued up to now (`before_ms`). The account row
is changed first and the entry appended after it: appended before, a login in between
would mint a token with the old role that the entry does not cover. A failed append is
retried for a failover's length (the append waits for a replica, WAIT) and then reported
to the caller (503): the admin repeats the request, which appends again.

Access tokens carry `iat` in whole seconds, so a verifier cannot tell a token minted
earlier in the revocation's second from one minted later in it and refuses both; the
publisher therefore returns only once that second is over, so a token minted after its
answer (the demoted user logging in again at once) is never refused."""

import asyncio
import time

from shared import get_logger, retry_with_backoff
from shared.redis import ClusterCommands, Revocation, append_revocation

_log = get_logger("revocations")
# A failover on the project's cluster settings takes a few seconds (docs/operations.md).
_ATTEMPTS = 12  # 0.1 s doubling to 1 s: ~8 s in all


class RevocationPublisher:
    def __init__(self, redis: ClusterCommands, *, retention_seconds: int,
                 replica_ack_ms: int = 1000) -> None:
        self.redis = redis
        self.retention_seconds = retention_seconds
        self.replica_ack_ms = replica_ack_ms

    async def user_changed(self, user_id: str, *, reason: str) -> None:
        """Revoke every access token of `user_id` issued until now; raises once retries
        are exhausted. Returns after the current second (see the module docstring)."""
        now_ms = int(time.time() * 1000)
        revocation = Revocation(kind="user", id=user_id, before_ms=now_ms,
                                exp=now_ms // 1000 + 1 + self.retention_seconds)
        result = await retry_with_backoff(
            lambda: append_revocation(self.redis, revocation,
                                      retention_seconds=self.retention_seconds,
                                      replica_ack_ms=self.replica_ack_ms),
            what="revocation_append", max_delay=1.0, attempts=_ATTEMPTS)
        _log.info("user_revocation_published", user_id=user_id, reason=reason,
                  before_ms=now_ms, replicas=result.replicas)
        if result.replicas < 1:
            _log.warning("state_store_write_unreplicated", operation="revocation_append",
                         reason="no_ack" if result.waited else "no_replica")
        next_second = (now_ms // 1000 + 1) - time.time()
        if next_second > 0:
            await asyncio.sleep(next_second + 0.001)
