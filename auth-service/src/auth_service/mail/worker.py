"""The outbox's sender: one per auth-service process, all of them in one consumer group on
`outbox:{mail}`, so the replicas share the work and each mail goes to one of them.

Each sender polls the stream (XREADGROUP without BLOCK, through the shared cluster client,
which follows MOVED and failovers) every MAIL_POLL_INTERVAL_SECONDS, and at once when this
process enqueued a mail. Not blocking reads: a blocking read on the cluster client's
pipelined per-node connection would hold up every call queued behind it, and a dedicated
connection would need its own failover handling; a mail a second late is no loss.

A mail is acknowledged (XACK, and deleted from the stream) only after the SMTP server took
it. A failure is retried by the sender holding it, with doubling pauses up to
MAIL_RETRY_MAX_SECONDS; the tries are counted in Redis, and after MAIL_MAX_ATTEMPTS (or at
once for a permanent 5xx refusal) the mail moves to `outbox:{mail}:dead` with a metric and
an error log line. The holder touches its mail (XCLAIM JUSTID, only while it still owns
it) at least every third of MAIL_CLAIM_IDLE_SECONDS; a mail idle longer than that belongs
to a sender that died and is claimed by another (XAUTOCLAIM). So delivery is at least
once: a sender that dies after the SMTP server took a mail but before its XACK sends it
twice. Logs name the entry, the template and the recipient's domain, never the context
(the links in it carry tokens) nor the body."""

import asyncio
import contextlib
import functools
import json
import os
import secrets
import socket
from collections.abc import Sequence

from auth_service.mail.metrics import MAIL_DEAD_LETTERED, MAIL_SEND_FAILURES, MAIL_SENT
from auth_service.mail.outbox import SENDER_GROUP, OutboxKeys
from auth_service.mail.smtp import SendFailed, SmtpSender
from auth_service.mail.stream import ACK, DEAD_LETTER, TOUCH, Entry, parse_entries, text
from auth_service.mail.templates import MailTemplates, RenderedMail
from auth_service.redis_store import RedisStore
from shared import get_logger
from shared.redis import ReplyError

_log = get_logger("mail")
_DEAD_LETTER_MAXLEN = 10_000  # the dead-letter stream keeps about the newest this many
_FIRST_LOOP_PAUSE, _MAX_LOOP_PAUSE = 0.5, 10.0  # while Redis itself is unusable
# Every restart of a process is a new consumer of the group: one idle this long that holds
# nothing is forgotten (XGROUP DELCONSUMER), looked for every _PRUNE_EVERY seconds.
FORGET_CONSUMER_AFTER_SECONDS = 86_400.0
_PRUNE_EVERY = 600.0

def consumer_name() -> str:
    """Unique per process: a restarted process is a new consumer (its old pending mails
    are claimed like any dead sender's)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class MailWorker:
    def __init__(self, store: RedisStore, sender: SmtpSender, templates: MailTemplates, *,
                 max_attempts: int, retry_base: float, retry_max: float, claim_idle: float,
                 poll_interval: float, concurrency: int, consumer: str | None = None,
                 keys: OutboxKeys | None = None) -> None:
        self.store = store
        self.keys = keys or OutboxKeys()
        self.sender = sender
        self.templates = templates
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.claim_idle = claim_idle
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.consumer = consumer or consumer_name()
        self._ack = store.register_script(ACK)
        self._dead = store.register_script(DEAD_LETTER)
        self._touch = store.register_script(TOUCH)
        self._wake = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claim_cursor = "0-0"
        self._group_ready = False
        self._pruned_at = float("-inf")

    def wake(self) -> None:
        """Look at the stream now (this process just enqueued)."""
        self._wake.set()

    async def run(self) -> None:
        """Send mail until cancelled (a background task of the lifespan); never raises."""
        pause = _FIRST_LOOP_PAUSE
        try:
            while True:
                try:
                    taken = await self.poll_once()
                    pause = _FIRST_LOOP_PAUSE
                except Exception as exc:  # Redis down beyond the store's budget, say
                    self._group_ready = False
                    _log.warning("mail_outbox_unavailable", error=type(exc).__name__,
                                 retry_in=pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, _MAX_LOOP_PAUSE)
                    continue
                if taken == 0:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow
                    # a cancellation that arrives as the event is set (an enqueue racing
                    # shutdown), and this loop would then never end.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval):
                            await self._wake.wait()
                    self._wake.clear()
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def poll_once(self) -> int:
        """Take what there is room for: mails of dead senders first, then new ones; each
        is delivered by a task of its own. Answers how many were taken."""
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        await self._ensure_group()
        now = asyncio.get_running_loop().time()
        if now - self._pruned_at >= _PRUNE_EVERY:
            self._pruned_at = now
            await self.forget_idle_consumers(FORGET_CONSUMER_AFTER_SECONDS)
        entries = [e for e in await self._claim_stale(free) if e[0] not in self._tasks]
        if len(entries) < free:
            entries += await self._read_new(free - len(entries))
        for entry_id, fields in entries:
            task = asyncio.create_task(self._guarded(entry_id, fields))
            self._tasks[entry_id] = task
            task.add_done_callback(functools.partial(self._done, entry_id))
        return len(entries)

    async def forget_idle_consumers(self, idle_seconds: float) -> list[str]:
        """Delete the group's consumers (not this one) that hold no mail and have been idle
        longer than `idle_seconds`: dead processes' names. Answers their names."""
        reply = await self.store.execute(self.keys.stream, b"XINFO", b"CONSUMERS",
                                         self.keys.stream, SENDER_GROUP, what="mail_consumers")
        forgotten = []
        for item in reply if isinstance(reply, list) else []:
            flat = [text(v) for v in item] if isinstance(item, list) else []
            info = dict(zip(flat[::2], flat[1::2], strict=False))
            name = info.get("name", "")
            if (name and name != self.consumer and info.get("pending") == "0"
                    and int(info.get("idle", "0")) > idle_seconds * 1000):
                # Deleting a consumer drops its pending mail: only one with none.
                await self.store.execute(self.keys.stream, b"XGROUP", b"DELCONSUMER",
                                         self.keys.stream, SENDER_GROUP, name,
                                         what="mail_consumers")
                forgotten.append(name)
        return forgotten

    def _done(self, entry_id: str, _: "asyncio.Task[None]") -> None:
        self._tasks.pop(entry_id, None)
        self._wake.set()  # room for another

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.store.execute(self.keys.stream, b"XGROUP", b"CREATE", self.keys.stream,
                                     SENDER_GROUP, b"0", b"MKSTREAM", what="mail_group")
        except ReplyError as exc:
            if exc.kind != "BUSYGROUP":
                raise
        self._group_ready = True

    async def _read_new(self, count: int) -> list[Entry]:
        try:
            reply = await self.store.execute(
                self.keys.stream, b"XREADGROUP", b"GROUP", SENDER_GROUP, self.consumer,
                b"COUNT", count, b"STREAMS", self.keys.stream, b">", what="mail_read")
        except ReplyError as exc:
            if exc.kind == "NOGROUP":  # the stream was deleted under us
                self._group_ready = False
            raise
        if not isinstance(reply, list) or not reply:
            return []  # nil: nothing new
        stream = reply[0]
        return parse_entries(stream[1]) if isinstance(stream, list) and len(stream) == 2 else []

    async def _claim_stale(self, count: int) -> list[Entry]:
        reply = await self.store.execute(
            self.keys.stream, b"XAUTOCLAIM", self.keys.stream, SENDER_GROUP, self.consumer,
            int(self.claim_idle * 1000), self._claim_cursor, b"COUNT", count,
            what="mail_claim")
        if not isinstance(reply, list) or len(reply) < 2:
            return []
        self._claim_cursor = text(reply[0])
        entries = parse_entries(reply[1])
        for entry_id, _ in entries:
            _log.info("mail_claimed", id=entry_id, consumer=self.consumer)
        return entries

    # --- one mail --------------------------------------------------------------------

    async def _guarded(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            await self._deliver(entry_id, fields)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis gone mid-way: the mail stays pending, and is
            # taken up again (by any sender) once idle for MAIL_CLAIM_IDLE_SECONDS
            _log.warning("mail_delivery_interrupted", id=entry_id, error=type(exc).__name__)

    async def _deliver(self, entry_id: str, fields: dict[str, str]) -> None:
        template = fields.get("template", "")
        to = fields.get("to", "")
        log = _log.bind(id=entry_id, template=template, domain=to.rpartition("@")[2])
        try:
            mail = self._render(fields)
        except Exception as exc:  # unknown template, bad context: no try can succeed
            await self._dead_letter(entry_id, fields, "invalid", 0, type(exc).__name__)
            return
        attempts = await self._attempts(entry_id)
        while True:
            if not await self._still_ours(entry_id):
                log.info("mail_taken_over")
                return
            try:
                await self.sender.send(to, mail)
            except SendFailed as exc:
                attempts += 1
                reason = "rejected" if exc.permanent else "unavailable"
                MAIL_SEND_FAILURES.labels(reason).inc()
                if exc.permanent or attempts >= self.max_attempts:
                    await self._dead_letter(entry_id, fields, reason, attempts, exc.reason)
                    return
                await self.store.execute(self.keys.attempts, b"HSET", self.keys.attempts, entry_id,
                                         attempts, what="mail_attempts")
                delay = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
                log.warning("mail_send_failed", error=exc.reason, attempt=attempts,
                            retry_in=round(delay, 3))
                await self._hold(entry_id, delay)
                continue
            await self.store.run(
                lambda: self._ack(keys=[self.keys.stream, self.keys.attempts],
                                  args=[SENDER_GROUP, entry_id]),
                what="mail_ack")
            MAIL_SENT.labels(template).inc()
            log.info("mail_sent", attempts=attempts + 1)
            return

    def _render(self, fields: dict[str, str]) -> RenderedMail:
        context = json.loads(fields["context"])
        if not isinstance(context, dict):
            raise ValueError("context is not an object")
        return self.templates.render(fields["template"], {str(k): str(v)
                                                          for k, v in context.items()})

    async def _attempts(self, entry_id: str) -> int:
        value = await self.store.execute(self.keys.attempts, b"HGET", self.keys.attempts, entry_id,
                                         what="mail_attempts")
        return int(text(value)) if value is not None else 0

    async def _still_ours(self, entry_id: str) -> bool:
        owned = await self.store.run(
            lambda: self._touch(keys=[self.keys.stream],
                                args=[SENDER_GROUP, self.consumer, entry_id]),
            what="mail_touch")
        return bool(owned)

    async def _hold(self, entry_id: str, delay: float) -> None:
        """Pause `delay` seconds, touching the entry often enough that nobody claims it."""
        loop = asyncio.get_running_loop()
        until = loop.time() + delay
        while (left := until - loop.time()) > 0:
            await asyncio.sleep(min(left, self.claim_idle / 3))
            if until - loop.time() > 0 and not await self._still_ours(entry_id):
                return  # the next loop turn sees it too and stops

    async def _dead_letter(self, entry_id: str, fields: dict[str, str], reason: str,
                           attempts: int, error: str) -> None:
        extra: Sequence[str] = [*(v for kv in fields.items() for v in kv),
                                "reason", reason, "attempts", str(attempts),
                                "original_id", entry_id]
        await self.store.run(
            lambda: self._dead(keys=[self.keys.stream, self.keys.attempts, self.keys.dead],
                               args=[SENDER_GROUP, entry_id, _DEAD_LETTER_MAXLEN, *extra]),
            what="mail_dead_letter")
        MAIL_DEAD_LETTERED.labels(reason).inc()
        _log.error("mail_dead_lettered", id=entry_id, template=fields.get("template", ""),
                   domain=fields.get("to", "").rpartition("@")[2], reason=reason,
                   attempts=attempts, error=error)
