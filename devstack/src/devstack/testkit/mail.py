"""The capture SMTP server for tests: a real `python -m devstack.mailcapture` process on a
free port with a Maildir of its own, that a test can stop and start again (an SMTP
outage), and a helper that waits for a mail to an address by polling the Maildir."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.mailcapture import CapturedMail, captured, wait_listening
from devstack.ports import HOST, free_port

# Generous: a test waits for a mail the service sends in well under a second, but a
# loaded CI machine must not turn that into a failure. Nothing asserts on the time taken.
DEFAULT_WAIT_SECONDS = 60.0


class CaptureSmtp:
    """`start()` / `stop()` / `kill()` the server; `host`, `port`, `maildir`."""

    def __init__(self, maildir: Path, port: int | None = None,
                 security: Sequence[str] = ()) -> None:
        self.maildir = maildir
        # The server's --tls/--cert-file/--key-file/--auth-file arguments, if any
        self.security = tuple(security)
        self.host = HOST
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = maildir.parent / f"{maildir.name}.log"

    def smtp_env(self) -> dict[str, str]:
        """The auth-service settings that point it here."""
        return {"SMTP_HOST": self.host, "SMTP_PORT": str(self.port), "SMTP_TLS": "none"}

    def start(self, timeout: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.mailcapture", "--host", self.host,
                 "--port", str(self.port), "--maildir", str(self.maildir), *self.security],
                stdout=log, stderr=subprocess.STDOUT)
        process = self.process
        wait_listening(self.port, timeout, alive=lambda: process.poll() is None, host=self.host)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def mail(self, to: str | None = None) -> list[CapturedMail]:
        return captured(self.maildir, to)

    def wait_for_mail(self, to: str, *, count: int = 1,
                      timeout: float = DEFAULT_WAIT_SECONDS) -> list[CapturedMail]:
        return wait_for_mail(self.maildir, to, count=count, timeout=timeout)


def wait_for_mail(maildir: Path, to: str, *, count: int = 1,
                  timeout: float = DEFAULT_WAIT_SECONDS) -> list[CapturedMail]:
    """The first `count` mails to `to` in `maildir` (oldest first), once there are that
    many; AssertionError after `timeout` seconds without them."""
    deadline = time.monotonic() + timeout
    while True:
        mails = captured(maildir, to)
        if len(mails) >= count:
            return mails[:count]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(mails)} of {count} mail(s) to {to} arrived in "
                                 f"{maildir} within {timeout:.0f}s")
        time.sleep(0.05)


def latest_mail(maildir: Path, to: str, *, timeout: float = DEFAULT_WAIT_SECONDS) -> CapturedMail:
    """The newest mail to `to`, waiting for one if there is none yet."""
    wait_for_mail(maildir, to, timeout=timeout)
    return captured(maildir, to)[-1]
