"""The durable outbox: a mail is an entry of one Redis stream, appended and acknowledged
by a replica (`WAIT`) before `enqueue` returns, so a request never waits on SMTP and a
master failover loses no mail. Senders (auth_service.mail.worker, one per process) share
the stream through a consumer group.

    outbox:{mail}           stream  to, template, context (JSON object of strings)
    outbox:{mail}:dead      stream  mails given up on: the same fields plus reason, attempts
    outbox:{mail}:attempts  hash    entry id -> failed tries so far (survives a sender crash)
    outbox:{mail}:e:<uuid>  string  this enqueue was applied (a retried enqueue adds nothing)

The stream's name is MAIL_OUTBOX_STREAM (default above); the other keys are named after
it, so every key shares its `{hash tag}`: one slot, and each script below is atomic."""

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from auth_service.mail.metrics import MAIL_QUEUED
from auth_service.mail.templates import MailTemplates
from auth_service.redis_store import RedisStore

OUTBOX_STREAM = "outbox:{mail}"  # the default (MAIL_OUTBOX_STREAM)
SENDER_GROUP = "senders"
_ENQUEUED_TTL_SECONDS = 600  # longer than any retry of one enqueue

# KEYS: stream, enqueued marker. ARGV: marker TTL, then the entry's field/value pairs.
_ENQUEUE = """
if redis.call('SET', KEYS[2], '1', 'EX', ARGV[1], 'NX') then
  return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
end
return false
"""


@dataclass(frozen=True, slots=True)
class OutboxKeys:
    """The outbox's keys, all beside its stream (so in its slot)."""

    stream: str = OUTBOX_STREAM

    @property
    def dead(self) -> str:
        return f"{self.stream}:dead"

    @property
    def attempts(self) -> str:
        return f"{self.stream}:attempts"

    def enqueued(self, marker: str) -> str:
        return f"{self.stream}:e:{marker}"


class Outbox:
    """Where the flows put mail. `enqueue` returns once the mail is durably queued (or
    raises StoreUnavailable after the request's Redis wait budget: a 503)."""

    def __init__(self, store: RedisStore, templates: MailTemplates, *,
                 keys: OutboxKeys | None = None,
                 on_enqueue: Callable[[], None] | None = None) -> None:
        self.store = store
        self.keys = keys or OutboxKeys()
        self.templates = templates
        self.on_enqueue = on_enqueue  # wakes this process's sender
        self._append = store.register_script(_ENQUEUE)

    @property
    def public_base_url(self) -> str:
        """The base URL the flows build links from (PUBLIC_BASE_URL, no trailing slash)."""
        return self.templates.public_base_url

    async def enqueue(self, *, to: str, template: str, context: Mapping[str, str]) -> None:
        """Queue `template` rendered with `context` for `to`. Nothing is rendered now; an
        unknown template or a malformed address is a ValueError (a bug in the caller)."""
        self.templates.check(template)
        if "@" not in to or any(c.isspace() for c in to):
            raise ValueError("not a mail address")
        fields = ["to", to, "template", template,
                  "context", json.dumps(dict(context), separators=(",", ":"))]
        marker = self.keys.enqueued(uuid.uuid4().hex)
        await self.store.run(
            lambda: self._append.durably(keys=[self.keys.stream, marker],
                                         args=[_ENQUEUED_TTL_SECONDS, *fields],
                                         what="mail_enqueue"),
            what="mail_enqueue",
        )
        MAIL_QUEUED.labels(template).inc()
        if self.on_enqueue is not None:
            self.on_enqueue()
