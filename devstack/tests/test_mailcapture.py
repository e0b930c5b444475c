"""The capture SMTP server in the native stack: `make up` runs it, the auth service's mail
goes there (its outbox worker, through the stack's Redis Cluster), and `devstack mail`
lists and prints what arrived."""

import asyncio
import smtplib
import uuid
from email.message import EmailMessage

import pytest

from devstack import cli
from devstack.stack import Stack
from devstack.testkit.mail import wait_for_mail


def new_address() -> str:
    return f"m-{uuid.uuid4().hex[:12]}@example.com"


def test_stack_runs_the_capture_server_and_devstack_mail_reads_it(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert stack.supervisor.state("mail") == "RUNNING"
    env = stack.services["auth-service"].env
    assert env["SMTP_PORT"] == str(stack.config.smtp_port)
    assert env["PUBLIC_BASE_URL"] == stack.gateway_url
    to = new_address()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "t@example.com", to, "Hello capture"
    message.set_content("plain body")
    message.add_alternative("<p>html body</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", stack.config.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    [mail] = wait_for_mail(stack.mail_dir, to)
    assert mail.path.parent == stack.mail_dir / "new"
    assert mail.path.suffix == ".eml"
    assert (mail.subject, mail.text.strip(), mail.html.strip()) == (
        "Hello capture", "plain body", "<p>html body</p>")

    monkeypatch.setenv("STACK_DIR", str(stack.config.state_dir))
    assert cli.main(["mail", "--to", to]) == 0
    listed = capsys.readouterr().out
    assert to in listed
    assert "Hello capture" in listed
    assert mail.path.name in listed
    assert cli.main(["mail", "--to", to, "--print"]) == 0
    printed = capsys.readouterr().out
    assert "Subject: Hello capture" in printed
    assert "plain body" in printed


def test_the_stack_auth_service_sends_outbox_mail_to_the_capture_server(stack: Stack) -> None:
    from auth_service.config import Settings
    from auth_service.redis_store import RedisStore
    from auth_service.resources import build_mail
    from shared.redis import cluster_client_from_settings

    # Enqueued here, sent by the worker inside the stack's auth-service process.
    settings = Settings(**{**stack.services["auth-service"].env, "MAIL_WORKER_ENABLED": False})
    to = new_address()

    async def enqueue() -> None:
        store = RedisStore(cluster_client_from_settings(settings), call_budget=1,
                           wait_budget=10, ack_timeout_ms=500)
        try:
            outbox, _ = build_mail(settings, store)
            await outbox.enqueue(to=to, template="test_message", context={"name": "Stack"})
        finally:
            await store.aclose()

    asyncio.run(enqueue())
    [mail] = wait_for_mail(stack.mail_dir, to)
    assert mail.subject == "Test message for Stack"
    assert f"{stack.gateway_url}/account" in mail.text
    assert f'href="{stack.gateway_url}/account"' in mail.html
