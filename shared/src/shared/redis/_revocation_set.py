"""What a verifier knows is revoked, in memory: filled by the revocation feed
(`_revocation_feed`), asked about every token (two dict lookups, no round trip)."""

import heapq

from shared.redis._revocation_log import Revocation


class RevocationSet:
    """What is revoked: session id -> exp, and user id -> (before_ms, exp). An entry is
    kept until its `exp` plus `grace_seconds` (the verifiers' leeway on `exp`)."""

    def __init__(self, grace_seconds: int = 0) -> None:
        self.grace_seconds = grace_seconds
        self.sessions: dict[str, int] = {}
        self.users: dict[str, tuple[int, int]] = {}
        self._expiry: list[tuple[int, str, str]] = []  # (exp, kind, id), a heap

    def __len__(self) -> int:
        return len(self.sessions) + len(self.users)

    def add(self, revocation: Revocation, now: float) -> bool:
        """Remember `revocation` (False: it no longer matters, nothing kept)."""
        if revocation.exp + self.grace_seconds < now:
            return False
        if revocation.kind == "session":
            self.sessions[revocation.id] = max(revocation.exp,
                                               self.sessions.get(revocation.id, 0))
        else:  # a later moment revokes more, a later exp for longer
            before_ms, exp = self.users.get(revocation.id, (0, 0))
            self.users[revocation.id] = (max(before_ms, revocation.before_ms),
                                         max(exp, revocation.exp))
        heapq.heappush(self._expiry, (revocation.exp, revocation.kind, revocation.id))
        return True

    def revoked(self, session_id: str | None, subject: str, issued_at: int) -> bool:
        """Whether a token of this session and subject, issued at `issued_at` (Unix
        seconds, `iat`), is revoked. A user revocation covers tokens with
        `iat * 1000 <= before_ms`: `iat` has whole seconds, so a token minted in the same
        second as the revocation, before or after it, is revoked (the publisher waits for
        the next second before it answers, so a token minted after its answer is not)."""
        if session_id is not None and session_id in self.sessions:
            return True
        user = self.users.get(subject)
        return user is not None and issued_at * 1000 <= user[0]

    def prune(self, now: float) -> int:
        """Forget entries whose tokens have all expired; how many were dropped."""
        dropped = 0
        limit = now - self.grace_seconds
        while self._expiry and self._expiry[0][0] < limit:
            exp, kind, key = heapq.heappop(self._expiry)
            if kind == "session":
                if self.sessions.get(key, exp + 1) <= exp:
                    del self.sessions[key]
                    dropped += 1
            elif key in self.users and self.users[key][1] <= exp:
                del self.users[key]
                dropped += 1
        return dropped
