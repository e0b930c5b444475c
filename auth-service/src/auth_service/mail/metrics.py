"""Mail metrics (the outbox and its senders)."""

from prometheus_client import Counter

MAIL_QUEUED = Counter("auth_mail_queued_total", "Mails enqueued to the outbox", ["template"])
MAIL_SENT = Counter("auth_mail_sent_total", "Mails the SMTP server accepted", ["template"])
MAIL_SEND_FAILURES = Counter(
    "auth_mail_send_failures_total", "Tries of a mail the SMTP server did not take",
    ["reason"],  # unavailable (down, slow, 4xx: tried again) | rejected (5xx)
)
MAIL_DEAD_LETTERED = Counter(
    "auth_mail_dead_lettered_total", "Mails given up on (moved to outbox:{mail}:dead)",
    ["reason"],  # unavailable (MAIL_MAX_ATTEMPTS tries) | rejected (5xx) | invalid
)
