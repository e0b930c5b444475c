"""The local capture SMTP server (aiosmtpd): every message it accepts is stored as one file
in a Maildir (`new/<time_ns>.<pid>.<random>.eml`, written to `tmp/` and renamed, so a
reader never sees half a message), with the envelope in two headers of its own on top.
Nothing is relayed: natively `make up` runs it with `.stack/mail/`, compose as the `mail`
container. `python -m devstack.mailcapture --port 2525 --maildir DIR` serves; the read
side (`captured`, `CapturedMail`) is what `devstack mail` and the tests use.

It can also stand in for a real relay's security, to try the auth service's SMTP_TLS and
SMTP_USERNAME settings against: `--tls starttls` (the upgrade is then required before
MAIL) or `--tls implicit` (TLS from the first byte) with `--cert-file`/`--key-file`, and
`--auth-file` (one `user:password` line: AUTH PLAIN/LOGIN is then required, over TLS only)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import hmac
import json
import os
import secrets
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.processes import Program

DEFAULT_PORT = 2525
PROGRAM = "mail"  # its supervisord program name natively
ENVELOPE_FROM = "X-Capture-Mail-From"
ENVELOPE_TO = "X-Capture-Rcpt-To"


def _log(event: str, **fields: object) -> None:
    print(json.dumps({"service": "mail", "level": "info", "event": event, **fields}),
          flush=True)


class MaildirHandler:
    """aiosmtpd handler: DATA -> one .eml file in `maildir`/new."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        head = (f"{ENVELOPE_FROM}: {envelope.mail_from}\r\n"
                f"{ENVELOPE_TO}: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        name = f"{time.time_ns()}.{os.getpid()}.{secrets.token_hex(4)}.eml"
        await asyncio.to_thread(self._store, name, head + content)
        _log("mail_captured", file=name, recipients=len(envelope.rcpt_tos))
        return "250 OK: captured"

    def _store(self, name: str, data: bytes) -> None:
        tmp = self.maildir / "tmp" / name
        with tmp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.maildir / "new" / name)


@dataclass(frozen=True)
class Security:
    """How the capture server guards itself: none by default (the local stack's)."""

    tls: str = "none"  # none | starttls | implicit
    cert_file: Path | None = None
    key_file: Path | None = None
    credentials: tuple[str, str] | None = None  # required AUTH login and password

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        if self.cert_file is None or self.key_file is None:
            raise SystemExit("--tls needs --cert-file and --key-file")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _authenticator(login: str, password: str) -> Callable[..., Any]:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and hmac.compare_digest(auth_data.login, login.encode())
              and hmac.compare_digest(auth_data.password, password.encode()))
        return AuthResult(success=ok, handled=False)
    return check


async def serve(host: str, port: int, maildir: Path,
                security: Security | None = None) -> None:
    from aiosmtpd.smtp import SMTP

    security = security or Security()
    handler = MaildirHandler(maildir)
    context = security.tls_context()
    options: dict[str, Any] = {}
    if security.tls == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if security.credentials is not None:
        # Implicit TLS is a TLS socket already; aiosmtpd's check only sees a STARTTLS one.
        options.update(authenticator=_authenticator(*security.credentials), auth_required=True,
                       auth_require_tls=security.tls == "starttls")
    else:
        options.update(auth_require_tls=False)  # no AUTH offered needs no TLS for it
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="capture.local", **options), host, port,
        ssl=context if security.tls == "implicit" else None)
    _log("mail_capture_listening", host=host, port=port, maildir=str(maildir),
         tls=security.tls, auth=security.credentials is not None)
    async with server:
        await server.serve_forever()


def program(port: int, maildir: Path, *, autorestart: bool) -> Program:
    """The supervisord program of the native stack (`make up`): this module, run by the
    launcher's own interpreter (it is part of devstack, not a service of the venv)."""
    from devstack.paths import REPO_ROOT
    from devstack.processes import Program

    return Program(name=PROGRAM, argv=[sys.executable, "-m", "devstack.mailcapture",
                                       "--port", str(port), "--maildir", str(maildir)],
                   env={"PYTHONUNBUFFERED": "1"}, directory=REPO_ROOT, priority=150,
                   autorestart=autorestart, startsecs=1)


def wait_listening(port: int, timeout: float, *, alive: Callable[[], bool],
                   host: str = "127.0.0.1") -> None:
    """Until host:port accepts a connection; RuntimeError when `alive()` turns False or
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or not alive():
                raise RuntimeError(f"the capture SMTP server is not listening on {port}") from None
            time.sleep(0.05)


@dataclass(frozen=True)
class CapturedMail:
    """One captured message: its file, the envelope recipients and the parsed message."""

    path: Path
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def part(self, subtype: str) -> str:
        """The body part of type text/`subtype` ("plain" or "html"), "" if none."""
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_subtype() != subtype:
            return ""
        return str(body.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")


def read_mail(path: Path) -> CapturedMail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    recipients = tuple(r.strip() for r in str(message.get(ENVELOPE_TO, "")).split(",")
                       if r.strip())
    return CapturedMail(path, recipients, message)


def captured(maildir: Path, to: str | None = None) -> list[CapturedMail]:
    """Every message in `maildir`/new, oldest first; with `to`: those for that address."""
    paths = sorted((maildir / "new").glob("*.eml"), key=lambda p: p.name)
    mails = [read_mail(p) for p in paths]
    if to is not None:
        mails = [m for m in mails if to.lower() in (r.lower() for r in m.recipients)]
    return mails


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.mailcapture",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--tls", choices=("none", "starttls", "implicit"), default="none")
    parser.add_argument("--cert-file", type=Path)
    parser.add_argument("--key-file", type=Path)
    parser.add_argument("--auth-file", type=Path, help="one line user:password; AUTH required")
    args = parser.parse_args(argv)
    credentials = None
    if args.auth_file is not None:  # a file, so the password is not in the process list
        login, _, password = args.auth_file.read_text().strip().partition(":")
        credentials = (login, password)
    security = Security(args.tls, args.cert_file, args.key_file, credentials)
    # As PID 1 of a container, SIGTERM would otherwise be ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.maildir, security))


if __name__ == "__main__":
    main()
