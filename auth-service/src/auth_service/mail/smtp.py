"""Handing one rendered mail to the SMTP server (aiosmtplib): plain-text and HTML parts,
STARTTLS or implicit TLS, optional AUTH. A failure says whether trying again may help."""

import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

import aiosmtplib

from auth_service.mail.settings import MailSettings
from auth_service.mail.templates import RenderedMail

TlsMode = Literal["none", "starttls", "implicit"]


class SendFailed(Exception):
    """The server did not take the mail. `permanent`: it refused it for good (5xx), so
    another try would be refused too; otherwise it was down, slow or said "later" (4xx)."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def _permanent(exc: aiosmtplib.SMTPException) -> bool:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refused.code < 600 for refused in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


class SmtpSender:
    """Sends with a connection of its own per mail (auth mail is rare; no pool to keep)."""

    def __init__(self, *, host: str, port: int, sender: str, tls: TlsMode, timeout: float,
                 username: str = "", password: str = "",
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        # Verifies the server's certificate and name (None: aiosmtplib's default context)
        self.tls_context = tls_context
        self.port = port
        self.sender = sender
        self.tls = tls
        self.timeout = timeout
        self.username = username
        self.password = password
        domain = parseaddr(sender)[1].rpartition("@")[2]
        self._msgid_domain = domain or "localhost"

    @classmethod
    def from_settings(cls, settings: MailSettings) -> "SmtpSender":
        return cls(host=settings.SMTP_HOST, port=settings.SMTP_PORT, sender=settings.SMTP_FROM,
                   tls=settings.SMTP_TLS, timeout=settings.SMTP_TIMEOUT_SECONDS,
                   username=settings.SMTP_USERNAME, password=settings.smtp_password,
                   tls_context=settings.smtp_tls_context())

    def message(self, to: str, mail: RenderedMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = Address(addr_spec=to)
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self._msgid_domain)
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    async def send(self, to: str, mail: RenderedMail) -> None:
        try:
            message = self.message(to, mail)
        except ValueError as exc:  # an address or header the mail format cannot carry
            raise SendFailed(type(exc).__name__, permanent=True) from None
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, timeout=self.timeout,
                use_tls=self.tls == "implicit", start_tls=self.tls == "starttls",
                username=self.username or None, password=self.password or None,
                tls_context=self.tls_context if self.tls != "none" else None,
            )
        except aiosmtplib.SMTPException as exc:
            raise SendFailed(type(exc).__name__, permanent=_permanent(exc)) from None
        except (OSError, TimeoutError) as exc:
            raise SendFailed(type(exc).__name__, permanent=False) from None
