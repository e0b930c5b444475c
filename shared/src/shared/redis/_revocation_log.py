"""The revocation log: one Redis stream every verifier (gateway, user service) reads.

It is both the push channel and the catch-up log (issue 16). Publishers append an entry
with `XADD` in a script that also trims what no verifier needs any more (entries older
than the longest access-token lifetime); verifiers block-read it (`XREAD BLOCK`) on a
connection of their own, and one that was away reads on from the last entry it saw, or
from "now - retention" when it starts, so a partition or a failover loses nothing. The
append is acknowledged by a replica (`WAIT`), like every write that must survive the
loss of a master.

An entry revokes either one session (`kind=session`, `id` = the `sid` claim) or every
token of one user issued before a moment (`kind=user`, `id` = the `sub` claim,
`before_ms` = that moment in Unix milliseconds, by the publisher's clock); `exp` (Unix seconds)
is when the entry stops mattering: the tokens it revokes have all expired by then.
The stream key lives under `rev:`, the prefix the ACL users are given for it."""

from dataclasses import dataclass
from typing import Literal

from shared.redis._cluster import Replicated, Script
from shared.redis._commands import ClusterCommands

REVOCATION_STREAM = "rev:{log}"

RevocationKind = Literal["session", "user"]

# ARGV: retention in ms, then the entry's field/value pairs. The server's clock (TIME)
# stamps the entry and decides what is old enough to trim, so publishers on machines with
# different clocks agree. `MINID ~` trims whole macro nodes: cheap, and it never drops
# an entry younger than the retention.
_APPEND = Script("""
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local minid = now_ms - tonumber(ARGV[1])
return redis.call('XADD', KEYS[1], 'MINID', '~', minid, '*', unpack(ARGV, 2))
""")


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the log (see the module docstring for the fields' meaning)."""

    kind: RevocationKind
    id: str
    exp: int
    before_ms: int = 0  # kind "user" only

    def fields(self) -> list[str]:
        pairs = ["kind", self.kind, "id", self.id, "exp", str(self.exp)]
        if self.kind == "user":
            pairs += ["before_ms", str(self.before_ms)]
        return pairs

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> "Revocation":
        """Parse a stream entry's fields; ValueError for one this version cannot read."""
        kind: RevocationKind
        if fields.get("kind") == "session":
            kind = "session"
        elif fields.get("kind") == "user":
            kind = "user"
        else:
            raise ValueError(f"unknown revocation kind {fields.get('kind')!r}")
        return cls(kind=kind, id=fields["id"], exp=int(fields["exp"]),
                   before_ms=int(fields.get("before_ms", "0")))


async def append_revocation(client: ClusterCommands, revocation: Revocation, *,
                            retention_seconds: int, replica_ack_ms: int) -> Replicated:
    """Append `revocation` to the log (and trim entries older than `retention_seconds`);
    the reply carries the new entry's stream ID and how many replicas acknowledged it."""
    return await client.evalsha_replicated(
        _APPEND, [REVOCATION_STREAM], [retention_seconds * 1000, *revocation.fields()],
        timeout_ms=replica_ack_ms)
