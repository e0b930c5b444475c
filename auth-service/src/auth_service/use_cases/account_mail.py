"""The mail side of the account flows: one-time tokens and the links that carry them, the
per-address throttle, notifications. Links open pages (`/account/...`) and carry the token
in the URL fragment, which no browser sends to any server: it is never in an access log or
a Referer, and a link scanner's GET consumes nothing (only the page's POST does)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from auth_service.account_tokens import AccountTokens, TokenKind
from auth_service.mail_throttle import MailThrottle

# The page a mailed token opens, per kind.
PAGES: dict[TokenKind, str] = {"verify": "verify", "reset": "reset", "email_change": "email"}


class MailQueue(Protocol):
    """Where mail goes (auth_service.mail.Outbox): durably queued when this returns."""

    async def enqueue(self, *, to: str, template: str, context: Mapping[str, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """Seconds a token of each kind lives (EMAIL_VERIFY_TOKEN_TTL_SECONDS, ...)."""

    verify: int
    reset: int
    email_change: int

    def of(self, kind: TokenKind) -> int:
        ttl: int = getattr(self, kind)
        return ttl


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    minutes = max(1, seconds // 60)
    return f"{minutes} minute" + ("s" if minutes != 1 else "")


class AccountMail:
    def __init__(self, *, queue: MailQueue, tokens: AccountTokens, throttle: MailThrottle,
                 public_base_url: str, lifetimes: Lifetimes) -> None:
        self.queue = queue
        self.tokens = tokens
        self.throttle = throttle
        self.base_url = public_base_url.rstrip("/")
        self.lifetimes = lifetimes

    def link(self, kind: TokenKind, token: str) -> str:
        return f"{self.base_url}/account/{PAGES[kind]}#token={token}"

    async def send_token(self, kind: TokenKind, *, to: str, template: str,
                         fields: Mapping[str, str],
                         context: Mapping[str, str] | None = None) -> None:
        """Issue a token of `kind` carrying `fields` and mail its link to `to`."""
        ttl = self.lifetimes.of(kind)
        token = await self.tokens.issue(kind, fields, ttl=ttl)
        await self.queue.enqueue(to=to, template=template, context={
            **(context or {}), "link": self.link(kind, token), "expires_in": _duration(ttl)})

    async def decoy(self, kind: TokenKind) -> None:
        """The Redis work of `send_token` (a token write and an enqueue, each acknowledged
        by a replica) without a token anyone gets or a mail: for an address without an
        account, so the answer costs the same."""
        ttl = min(60, self.lifetimes.of(kind))
        await self.tokens.decoy(kind, ttl=ttl)
        await self.tokens.decoy(kind, ttl=ttl)

    async def notify(self, *, to: str, template: str,
                     context: Mapping[str, str] | None = None) -> None:
        await self.queue.enqueue(to=to, template=template, context=dict(context or {}))
