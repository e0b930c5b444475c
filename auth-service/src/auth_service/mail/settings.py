"""The mail settings of the auth service (a part of auth_service.config.Settings)."""

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailSettings(BaseSettings):
    """Outbound mail: the SMTP server, the outbox's retry rules, the links' base URL."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Links in mails start with this (the gateway's public address, no trailing slash)
    PUBLIC_BASE_URL: str = "http://127.0.0.1:3000"
    SMTP_HOST: str = "127.0.0.1"  # the SMTP server mail is handed to (natively: the capture server)
    SMTP_PORT: int = Field(default=2525, ge=1, le=65535)  # 2525: the local capture server
    SMTP_FROM: str = "Auth <no-reply@localhost>"  # the From: header and envelope sender
    SMTP_USERNAME: str = ""  # SMTP AUTH user; empty: no AUTH
    SMTP_PASSWORD: SecretStr = SecretStr("")
    # A file holding the SMTP password instead (a mounted secret); not together with SMTP_PASSWORD
    SMTP_PASSWORD_FILE: Path | None = None
    # none: plain SMTP; starttls: upgrade on connect (port 587); implicit: TLS from the start (465)
    SMTP_TLS: Literal["none", "starttls", "implicit"] = "none"
    # The CA bundle (PEM) the SMTP server's certificate must chain to, for a relay with a
    # private CA; unset: the system's trust store. The host name is checked either way.
    SMTP_CA_FILE: Path | None = None
    SMTP_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)  # connect and each SMTP reply
    # The outbox stream (under the ACL prefix outbox:, with a {hash tag}); its dead letters,
    # try counts and enqueue markers are keys beside it (`<stream>:dead`, ...)
    MAIL_OUTBOX_STREAM: str = "outbox:{mail}"
    # Run the outbox's sender in this process (every replica shares the stream's work)
    MAIL_WORKER_ENABLED: bool = True
    # Tries of one mail (SMTP down or refusing it for now) before it is dead-lettered
    MAIL_MAX_ATTEMPTS: int = Field(default=12, ge=1)
    # Pause after a mail's first failed try; it doubles with each further one
    MAIL_RETRY_BASE_SECONDS: float = Field(default=1.0, gt=0)
    MAIL_RETRY_MAX_SECONDS: float = Field(default=300.0, gt=0)  # longest pause between tries
    # A mail taken by a sender that has not touched it for this long (a crashed replica) is
    # taken over by another; keep it well above SMTP_TIMEOUT_SECONDS
    MAIL_CLAIM_IDLE_SECONDS: float = Field(default=60.0, gt=0)
    # How often an idle sender looks at the stream (a mail enqueued by this process is sent
    # at once; one from another replica within this)
    MAIL_POLL_INTERVAL_SECONDS: float = Field(default=1.0, gt=0)
    # Mails one sender holds (and sends concurrently) at most
    MAIL_BATCH_SIZE: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_mail(self) -> "MailSettings":
        if self.SMTP_PASSWORD_FILE is not None:
            if self.SMTP_PASSWORD.get_secret_value():
                raise ValueError("set SMTP_PASSWORD or SMTP_PASSWORD_FILE, not both")
            if not self.SMTP_PASSWORD_FILE.is_file():
                raise ValueError(f"SMTP_PASSWORD_FILE {self.SMTP_PASSWORD_FILE} is not a file")
        if self.SMTP_CA_FILE is not None and not self.SMTP_CA_FILE.is_file():
            raise ValueError(f"SMTP_CA_FILE {self.SMTP_CA_FILE} is not a file")
        stream = self.MAIL_OUTBOX_STREAM
        if not stream.startswith("outbox:") or "{" not in stream or "}" not in stream:
            raise ValueError("MAIL_OUTBOX_STREAM must start with outbox: and hold a {hash tag}")
        if self.MAIL_RETRY_MAX_SECONDS < self.MAIL_RETRY_BASE_SECONDS:
            raise ValueError("MAIL_RETRY_MAX_SECONDS must be >= MAIL_RETRY_BASE_SECONDS")
        if self.MAIL_CLAIM_IDLE_SECONDS <= self.SMTP_TIMEOUT_SECONDS:
            raise ValueError("MAIL_CLAIM_IDLE_SECONDS must be above SMTP_TIMEOUT_SECONDS")
        return self

    def smtp_tls_context(self) -> ssl.SSLContext | None:
        """The client TLS context for SMTP_TLS starttls/implicit (None: plain SMTP)."""
        if self.SMTP_TLS == "none":
            return None
        return ssl.create_default_context(
            cafile=None if self.SMTP_CA_FILE is None else str(self.SMTP_CA_FILE))

    @property
    def smtp_password(self) -> str:
        """The SMTP password, read from SMTP_PASSWORD_FILE when that is set ("" for none)."""
        if self.SMTP_PASSWORD_FILE is not None:
            return self.SMTP_PASSWORD_FILE.read_text().strip()
        return self.SMTP_PASSWORD.get_secret_value()
