"""Outbound mail: the durable outbox the flows enqueue to (`Outbox.enqueue`), the templates,
the SMTP sender and the worker that drains the outbox (docs/account-lifecycle.md, "Mail")."""

from auth_service.mail.outbox import OUTBOX_STREAM, SENDER_GROUP, Outbox, OutboxKeys
from auth_service.mail.settings import MailSettings
from auth_service.mail.smtp import SendFailed, SmtpSender
from auth_service.mail.templates import MailTemplates, RenderedMail, UnknownTemplate
from auth_service.mail.worker import MailWorker, consumer_name

__all__ = [
    "OUTBOX_STREAM",
    "SENDER_GROUP",
    "MailSettings",
    "MailTemplates",
    "MailWorker",
    "Outbox",
    "OutboxKeys",
    "RenderedMail",
    "SendFailed",
    "SmtpSender",
    "UnknownTemplate",
    "consumer_name",
]
