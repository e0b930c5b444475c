"""The mail outbox against the real Redis Cluster (as the auth service's ACL user) and the
real capture SMTP server: delivery with both parts, an SMTP outage, a sender killed with
SIGKILL between enqueue and send, dead letters. Each test has a stream of its own
(MAIL_OUTBOX_STREAM), so senders of other tests never take its mail."""

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ResponseError

from auth_service.mail import OutboxKeys, UnknownTemplate
from auth_service.mail import worker as worker_module
from devstack.testkit.mail import CaptureSmtp

from .conftest import AppFactory, new_email

pytestmark = pytest.mark.asyncio
BASE_URL = "https://auth.example.test"


class LogRecorder:
    """Stands in for a structlog logger: records (level, event, fields), bind() included."""

    def __init__(self, calls: list[tuple[str, str, dict[str, Any]]] | None = None,
                 bound: dict[str, Any] | None = None) -> None:
        self.calls = [] if calls is None else calls
        self.bound = bound or {}

    def bind(self, **fields: Any) -> "LogRecorder":
        return LogRecorder(self.calls, {**self.bound, **fields})

    def __getattr__(self, level: str) -> Callable[..., None]:
        def record(event: str, **fields: Any) -> None:
            self.calls.append((level, event, {**self.bound, **fields}))
        return record


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def mail_env(capture: CaptureSmtp, **overrides: Any) -> dict[str, Any]:
    return {**capture.smtp_env(), "PUBLIC_BASE_URL": BASE_URL,
            "MAIL_OUTBOX_STREAM": f"outbox:{{t-{uuid.uuid4().hex[:12]}}}",
            "MAIL_POLL_INTERVAL_SECONDS": 0.2, "SMTP_TIMEOUT_SECONDS": 2, **overrides}


def admin(redis_cluster: Any) -> Any:
    return redis_cluster.cluster_client()


async def wait_until(check: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


def drained(redis: Any, stream: str) -> bool:
    """Nothing left in the stream nor pending in its group."""
    return redis.xlen(stream) == 0 and redis.xpending(stream, "senders")["pending"] == 0


async def test_enqueued_mail_is_delivered_with_plain_and_html_parts(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any) -> None:
    env = mail_env(capture_smtp)
    to = new_email()
    sent_before = metric("auth_mail_sent_total", template="test_message")
    async with auth_app_factory(**env) as auth:
        await auth.resources.outbox.enqueue(to=to, template="test_message",
                                            context={"name": "<Ann & co>"})
        [mail] = await asyncio.to_thread(capture_smtp.wait_for_mail, to)
        redis = admin(redis_cluster)
        await wait_until(lambda: drained(redis, env["MAIL_OUTBOX_STREAM"]), "acknowledged")
    assert mail.recipients == (to,)
    assert mail.subject == "Test message for <Ann & co>"
    assert str(mail.message["To"]) == to
    assert "Hello <Ann & co>," in mail.text
    assert f"{BASE_URL}/account" in mail.text
    assert "Hello &lt;Ann &amp; co&gt;," in mail.html  # autoescaped
    assert f'href="{BASE_URL}/account"' in mail.html
    assert metric("auth_mail_sent_total", template="test_message") == sent_before + 1
    assert [m.path for m in capture_smtp.mail(to)] == [mail.path]


async def test_unknown_template_or_address_is_refused_at_enqueue(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any) -> None:
    env = mail_env(capture_smtp)
    async with auth_app_factory(**env) as auth:
        with pytest.raises(UnknownTemplate):
            await auth.resources.outbox.enqueue(to=new_email(), template="no_such_mail",
                                                context={})
        with pytest.raises(ValueError, match="address"):
            await auth.resources.outbox.enqueue(to="a@b.c\r\nBcc: x@y.z",
                                                template="test_message", context={"name": "x"})
    assert admin(redis_cluster).xlen(env["MAIL_OUTBOX_STREAM"]) == 0  # nothing queued


async def test_mail_survives_an_smtp_outage_and_is_delivered_once(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any) -> None:
    env = mail_env(capture_smtp, MAIL_RETRY_BASE_SECONDS=0.2, MAIL_RETRY_MAX_SECONDS=2,
                   MAIL_MAX_ATTEMPTS=1000)
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    redis = admin(redis_cluster)
    to = new_email()
    capture_smtp.stop()
    async with auth_app_factory(**env) as auth:
        await auth.resources.outbox.enqueue(to=to, template="test_message",
                                            context={"name": "Outage"})
        await wait_until(lambda: len(redis.hvals(keys.attempts)) == 1, "a failed try counted")
        await asyncio.sleep(30)  # the outage: the sender keeps trying meanwhile
        assert capture_smtp.mail(to) == []
        tries = int(redis.hvals(keys.attempts)[0])
        assert tries >= 2
        capture_smtp.start()
        await asyncio.to_thread(capture_smtp.wait_for_mail, to)
        await wait_until(lambda: drained(redis, keys.stream), "acknowledged")
    assert len(capture_smtp.mail(to)) == 1
    assert redis.exists(keys.attempts) == 0  # forgotten once sent
    assert redis.exists(keys.dead) == 0


async def test_mail_of_a_killed_sender_is_claimed_and_delivered_after_restart(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any,
        make_settings: Callable[..., Any]) -> None:
    env = mail_env(capture_smtp, MAIL_CLAIM_IDLE_SECONDS=3, SMTP_TIMEOUT_SECONDS=1,
                   MAIL_RETRY_BASE_SECONDS=0.2, MAIL_RETRY_MAX_SECONDS=0.5,
                   MAIL_MAX_ATTEMPTS=1000)
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    redis = admin(redis_cluster)
    to = new_email()
    capture_smtp.stop()  # the first sender takes the mail but cannot send it
    settings = make_settings(**env)
    child_env = {**os.environ, **{k: str(v) for k, v in settings.model_dump().items()
                                  if k.isupper() and v is not None
                                  and not hasattr(v, "get_secret_value")},
                 "REDIS_PASSWORD": settings.redis_password, "SMTP_PASSWORD": ""}
    child_env.pop("REDIS_PASSWORD_FILE", None)
    script = Path(sys.executable).parent / "auth-service"
    sender = await asyncio.create_subprocess_exec(
        str(script), "mail-worker", env=child_env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with auth_app_factory(**env, MAIL_WORKER_ENABLED=False) as auth:
            await auth.resources.outbox.enqueue(to=to, template="test_message",
                                                context={"name": "Crash"})

        def held_by_child() -> bool:
            assert sender.returncode is None, "the child sender exited"
            try:
                consumers = redis.xinfo_consumers(keys.stream, "senders")
            except ResponseError:  # its group is not there yet
                return False
            return any(c["pending"] == 1 and f":{sender.pid}:" in c["name"]
                       for c in consumers) and bool(redis.hvals(keys.attempts))

        await wait_until(held_by_child, "the child sender took the mail and tried it")
    finally:
        sender.send_signal(signal.SIGKILL)
        await sender.wait()
    capture_smtp.start()
    claimed_before = redis.xpending(keys.stream, "senders")["pending"]
    assert claimed_before == 1  # still pending, owned by the dead sender
    async with auth_app_factory(**env):  # a new process: a new consumer
        await asyncio.to_thread(capture_smtp.wait_for_mail, to)
        await wait_until(lambda: drained(redis, keys.stream), "acknowledged")
    assert len(capture_smtp.mail(to)) == 1


async def test_mail_is_dead_lettered_after_max_attempts(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's log calls, recorded as made (the output stream is the logging set-up's).
    logged = LogRecorder()
    monkeypatch.setattr(worker_module, "_log", logged)
    env = mail_env(capture_smtp, MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_BASE_SECONDS=0.05,
                   MAIL_RETRY_MAX_SECONDS=0.1)
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    redis = admin(redis_cluster)
    to = new_email()
    secret = f"token-{uuid.uuid4().hex}"
    capture_smtp.stop()
    dead_before = metric("auth_mail_dead_lettered_total", reason="unavailable")
    failures_before = metric("auth_mail_send_failures_total", reason="unavailable")
    async with auth_app_factory(**env) as auth:
        await auth.resources.outbox.enqueue(to=to, template="test_message",
                                            context={"name": secret})
        await wait_until(lambda: redis.xlen(keys.dead) == 1, "dead-lettered")
        await wait_until(lambda: drained(redis, keys.stream), "taken off the outbox")
    [(_, fields)] = redis.xrange(keys.dead)
    assert fields["to"] == to
    assert fields["template"] == "test_message"
    assert fields["reason"] == "unavailable"
    assert fields["attempts"] == "3"
    assert metric("auth_mail_dead_lettered_total", reason="unavailable") == dead_before + 1
    assert metric("auth_mail_send_failures_total", reason="unavailable") == failures_before + 3
    assert redis.exists(keys.attempts) == 0
    [dead] = [fields for level, event, fields in logged.calls if event == "mail_dead_lettered"]
    assert dead["reason"] == "unavailable"
    assert dead["domain"] == "example.com"
    assert [level for level, event, _ in logged.calls if event == "mail_dead_lettered"] == ["error"]
    assert [event for _, event, _ in logged.calls].count("mail_send_failed") == 2
    everything = repr(logged.calls)
    assert secret not in everything  # the context (links carry tokens) is never logged
    assert to not in everything


class _RefusesRecipients:
    """An SMTP server that refuses every recipient for good (550)."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        return "550 5.1.1 no such user"


async def test_a_permanently_refused_mail_is_dead_lettered_at_once(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any) -> None:
    from aiosmtpd.controller import Controller

    from devstack.ports import free_port

    server = Controller(_RefusesRecipients(), hostname="127.0.0.1", port=free_port())
    server.start()
    env = mail_env(capture_smtp, SMTP_PORT=server.port, MAIL_MAX_ATTEMPTS=5)
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    redis = admin(redis_cluster)
    to = new_email()
    rejected_before = metric("auth_mail_dead_lettered_total", reason="rejected")
    try:
        async with auth_app_factory(**env) as auth:
            await auth.resources.outbox.enqueue(to=to, template="test_message",
                                                context={"name": "Nobody"})
            await wait_until(lambda: redis.xlen(keys.dead) == 1, "dead-lettered")
    finally:
        server.stop()
    [(_, fields)] = redis.xrange(keys.dead)
    assert (fields["to"], fields["reason"], fields["attempts"]) == (to, "rejected", "1")
    assert metric("auth_mail_dead_lettered_total", reason="rejected") == rejected_before + 1
    assert drained(redis, keys.stream)


async def test_idle_consumers_holding_nothing_are_forgotten(
        auth_app_factory: AppFactory, capture_smtp: CaptureSmtp, redis_cluster: Any) -> None:
    env = mail_env(capture_smtp, MAIL_WORKER_ENABLED=False)  # nobody else reads the stream
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    redis = admin(redis_cluster)
    redis.xgroup_create(keys.stream, "senders", id="0", mkstream=True)
    async with auth_app_factory(**env) as auth:
        worker = auth.resources.mail_worker
        # A dead process's consumer (it read nothing), one still holding a mail, and this
        # process's own.
        for name in ("ghost", worker.consumer):
            redis.xgroup_createconsumer(keys.stream, "senders", name)
        redis.xadd(keys.stream, {"to": "x@example.com", "template": "test_message",
                                 "context": "{}"})
        redis.xreadgroup("senders", "holder", {keys.stream: ">"}, count=1)
        await asyncio.sleep(0.01)  # every one idle for more than 0 s
        forgotten = await worker.forget_idle_consumers(0)
    names = {c["name"] for c in redis.xinfo_consumers(keys.stream, "senders")}
    assert forgotten == ["ghost"]
    assert names == {"holder", worker.consumer}
