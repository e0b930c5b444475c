"""Account lifecycle (issue 17) against the real user service, PostgreSQL and Redis Cluster:
verification, password reset and change, email change, enumeration-safe registration.

The flows' mail goes to a queue that records it and renders it with the real templates
(so a template that needs a value the flow does not give fails here); delivery through
the outbox and SMTP is test_account_mail.py's and the e2e tests' business."""

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from auth_service.mail import MailTemplates, RenderedMail

from .conftest import PASSWORD, AppFactory, AuthApp, new_email

BASE_URL = "https://id.example.test"
NEW_PASSWORD = "another entirely fine passphrase"
_TOKEN = re.compile(r"#token=([A-Za-z0-9_\-.]+)")


@dataclass
class Sent:
    to: str
    template: str
    context: dict[str, str]
    rendered: RenderedMail

    @property
    def token(self) -> str:
        match = _TOKEN.search(self.context["link"])
        assert match, self.context
        return match.group(1)


class RecordingQueue:
    """The MailQueue protocol: records, and renders with the real templates."""

    def __init__(self) -> None:
        self.templates = MailTemplates(BASE_URL)
        self.sent: list[Sent] = []

    async def enqueue(self, *, to: str, template: str, context: Mapping[str, str]) -> None:
        rendered = self.templates.render(template, context)
        self.sent.append(Sent(to, template, dict(context), rendered))

    def to(self, address: str, template: str | None = None) -> list[Sent]:
        return [m for m in self.sent
                if m.to == address and (template is None or m.template == template)]

    def last(self, address: str, template: str) -> Sent:
        mails = self.to(address, template)
        assert mails, f"no {template} mail to {address}: {self.sent}"
        return mails[-1]


class Account:
    def __init__(self, auth: AuthApp, queue: RecordingQueue) -> None:
        self.auth = auth
        self.client = auth.client
        self.queue = queue

    async def signed_in(self, email: str | None = None) -> tuple[str, dict[str, Any]]:
        email = await self.auth.register(email)
        return email, await self.auth.login(email)

    async def clear_cooldown(self, email: str, kind: str) -> None:
        throttle = self.auth.resources.account.mail.throttle
        key = throttle.address_key(email, kind)
        await self.auth.resources.redis.execute(key, "DEL", key, what="test")


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def open_account(auth_app_factory: AppFactory) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Account]:
        settings = {"PUBLIC_BASE_URL": BASE_URL, "MAIL_WORKER_ENABLED": False,
                    "REFRESH_REUSE_GRACE_SECONDS": 60.0, **overrides}
        async with auth_app_factory(**settings) as auth:
            queue = RecordingQueue()
            auth.resources.account.use_queue(queue)
            yield Account(auth, queue)

    return start


@pytest.fixture
async def account(open_account: Any) -> AsyncIterator[Account]:
    async with open_account() as running:
        yield running


async def _profile(account: Account, tokens: dict[str, Any]) -> dict[str, Any]:
    user = await account.auth.resources.users.get_user(
        (await account.auth.resources.verifier.verify(tokens["access_token"])).subject)
    assert user is not None
    return user


# --- verification --------------------------------------------------------------------------

async def test_registration_mails_a_verification_link(account: Account, problem: Any) -> None:
    email, tokens = await account.signed_in()
    assert (await _profile(account, tokens))["email_verified"] is False
    mail = account.queue.last(email, "verify_email")
    assert mail.context["link"].startswith(f"{BASE_URL}/account/verify#token=")
    assert mail.context["expires_in"] == "24 hours"
    assert mail.context["link"] in mail.rendered.text
    assert mail.rendered.subject == "Confirm your email address"
    confirmed = await account.client.post("/auth/verify-email", json={"token": mail.token})
    assert confirmed.status_code == 204, confirmed.text
    assert (await _profile(account, tokens))["email_verified"] is True
    again = await account.client.post("/auth/verify-email", json={"token": mail.token})
    problem(again, 400, "invalid_or_expired_token")


async def test_token_is_stored_hashed_with_the_kinds_lifetime(account: Account) -> None:
    email, _ = await account.signed_in()
    token = account.queue.last(email, "verify_email").token
    token_id, _, secret = token.partition(".")
    key = f"mail:{{t:{token_id}}}"
    redis = account.auth.resources.redis
    stored = await redis.execute(key, "HGETALL", key, what="test")
    assert isinstance(stored, list)
    assert secret.encode() not in stored
    assert token.encode() not in stored
    ttl = await redis.execute(key, "TTL", key, what="test")
    assert 86400 - 60 < int(str(ttl)) <= 86400


async def test_bad_tokens(account: Account, problem: Any) -> None:
    email, _ = await account.signed_in()
    token = account.queue.last(email, "verify_email").token
    token_id, _, secret = token.partition(".")
    for bad in ("nope", f"{token_id}.", f"{token_id}.{secret[:-1]}x", f".{secret}",
                f"{token_id}x.{secret}"):
        problem(await account.client.post("/auth/verify-email", json={"token": bad}),
                400, "invalid_or_expired_token")
    # A token of one kind is not a token of another, and a failed try spends nothing.
    problem(await account.client.post("/auth/password/reset",
                                      json={"token": token, "new_password": NEW_PASSWORD}),
            400, "invalid_or_expired_token")
    ok = await account.client.post("/auth/verify-email", json={"token": token})
    assert ok.status_code == 204


async def test_expired_token_is_refused(account: Account, problem: Any) -> None:
    """Expiry is the server's TTL: the key's expiry is moved into the past."""
    email, _ = await account.signed_in()
    token = account.queue.last(email, "verify_email").token
    key = f"mail:{{t:{token.partition('.')[0]}}}"
    redis = account.auth.resources.redis
    assert await redis.execute(key, "PEXPIREAT", key, 1, what="test") == 1
    problem(await account.client.post("/auth/verify-email", json={"token": token}),
            400, "invalid_or_expired_token")


async def test_concurrent_confirmations_spend_a_token_once(account: Account) -> None:
    import asyncio

    email, _ = await account.signed_in()
    token = account.queue.last(email, "verify_email").token
    answers = await asyncio.gather(*(
        account.client.post("/auth/verify-email", json={"token": token}) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [204] + [400] * 7


async def test_request_and_resend(account: Account) -> None:
    email, tokens = await account.signed_in()
    assert len(account.queue.to(email, "verify_email")) == 1
    # Within the cooldown: answered, nothing sent (the registration mail was just sent).
    asked = await account.client.post("/auth/verify-email/request", headers=bearer(tokens))
    assert asked.status_code == 202
    assert len(account.queue.to(email, "verify_email")) == 1
    await account.clear_cooldown(email, "verify")
    resent = await account.client.post("/auth/verify-email/resend",
                                       json={"email": email.upper()})
    assert resent.status_code == 202
    assert resent.json() == asked.json()
    assert len(account.queue.to(email, "verify_email")) == 2
    await account.clear_cooldown(email, "verify")
    asked = await account.client.post("/auth/verify-email/request", headers=bearer(tokens))
    assert len(account.queue.to(email, "verify_email")) == 3
    # Every link still works until used (each its own token); one is enough.
    token = account.queue.last(email, "verify_email").token
    assert (await account.client.post("/auth/verify-email", json={"token": token})).status_code \
        == 204
    # Verified: nothing more is sent.
    await account.clear_cooldown(email, "verify")
    await account.client.post("/auth/verify-email/request", headers=bearer(tokens))
    await account.client.post("/auth/verify-email/resend", json={"email": email})
    assert len(account.queue.to(email, "verify_email")) == 3


async def test_resend_is_the_same_for_unknown_addresses(account: Account) -> None:
    email, _ = await account.signed_in()
    await account.clear_cooldown(email, "verify")
    known = await account.client.post("/auth/verify-email/resend", json={"email": email})
    unknown_address = new_email()
    unknown = await account.client.post("/auth/verify-email/resend",
                                        json={"email": unknown_address})
    garbage = await account.client.post("/auth/verify-email/resend", json={"email": "x"})
    assert known.status_code == unknown.status_code == garbage.status_code == 202
    assert known.content == unknown.content == garbage.content
    assert not account.queue.to(unknown_address)


async def test_resend_is_limited_per_ip(open_account: Any, problem: Any) -> None:
    async with open_account(MAIL_IP_LIMIT=2) as account:
        for _ in range(2):
            ok = await account.client.post("/auth/verify-email/resend",
                                           json={"email": new_email()})
            assert ok.status_code == 202
        refused = await account.client.post("/auth/password/forgot",
                                            json={"email": new_email()})
        body = problem(refused, 429, "mail_throttled")
        assert int(refused.headers["retry-after"]) >= 1
        assert body["status"] == 429


async def test_login_needs_a_verified_address_when_required(open_account: Any,
                                                            problem: Any) -> None:
    async with open_account(REQUIRE_VERIFIED_EMAIL=True) as account:
        email = await account.auth.register()
        refused = await account.client.post("/auth/login",
                                            json={"email": email, "password": PASSWORD})
        problem(refused, 403, "email_not_verified")
        # A wrong password is told as always: the 403 needs the password.
        wrong = await account.client.post("/auth/login",
                                          json={"email": email, "password": "wrong" * 4})
        problem(wrong, 401, "invalid_credentials")
        token = account.queue.last(email, "verify_email").token
        assert (await account.client.post("/auth/verify-email",
                                          json={"token": token})).status_code == 204
        await account.auth.login(email)


# --- password reset ------------------------------------------------------------------------

async def _sessions(account: Account, tokens: dict[str, Any]) -> Any:
    return await account.client.get("/auth/sessions", headers=bearer(tokens))


async def test_reset_ends_every_session(account: Account, problem: Any) -> None:
    email, first = await account.signed_in()
    second = await account.auth.login(email)
    forgot = await account.client.post("/auth/password/forgot", json={"email": email})
    assert forgot.status_code == 202
    mail = account.queue.last(email, "reset_password")
    assert mail.context["link"].startswith(f"{BASE_URL}/account/reset#token=")
    assert mail.context["expires_in"] == "30 minutes"
    weak = await account.client.post("/auth/password/reset",
                                     json={"token": mail.token, "new_password": "password1234"})
    problem(weak, 422, "password_too_common")  # and the token is still good:
    reset = await account.client.post("/auth/password/reset",
                                      json={"token": mail.token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    for pair in (first, second):
        problem(await account.client.post("/auth/refresh",
                                          json={"refresh_token": pair["refresh_token"]}),
                401, "invalid_refresh_token")
    problem(await account.client.post("/auth/login",
                                      json={"email": email, "password": PASSWORD}),
            401, "invalid_credentials")
    fresh = await account.auth.login(email, NEW_PASSWORD)
    assert [s["current"] for s in (await _sessions(account, fresh)).json()["items"]] == [True]
    assert account.queue.last(email, "password_changed").rendered.subject \
        == "Your password was changed"
    assert (await _profile(account, fresh))["email_verified"] is True  # the link proved it
    again = await account.client.post("/auth/password/reset",
                                      json={"token": mail.token, "new_password": NEW_PASSWORD})
    problem(again, 400, "invalid_or_expired_token")


async def test_reset_token_dies_when_the_password_changes(account: Account,
                                                          problem: Any) -> None:
    email, tokens = await account.signed_in()
    await account.client.post("/auth/password/forgot", json={"email": email})
    token = account.queue.last(email, "reset_password").token
    changed = await account.client.post("/auth/password/change", headers=bearer(tokens), json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.text
    problem(await account.client.post("/auth/password/reset",
                                      json={"token": token, "new_password": PASSWORD + "!"}),
            400, "invalid_or_expired_token")
    await account.auth.login(email, NEW_PASSWORD)


async def test_forgot_is_the_same_for_any_address(account: Account) -> None:
    email, _ = await account.signed_in()
    unknown_address = new_email()
    answers = [await account.client.post("/auth/password/forgot", json={"email": address})
               for address in (email, unknown_address, "not an address")]
    assert {r.status_code for r in answers} == {202}
    assert len({r.content for r in answers}) == 1
    assert {r.headers["content-type"] for r in answers} == {"application/json"}
    assert len(account.queue.to(email, "reset_password")) == 1
    assert not account.queue.to(unknown_address)
    # Within the cooldown a second ask sends nothing, and answers the same.
    again = await account.client.post("/auth/password/forgot", json={"email": email})
    assert again.content == answers[0].content
    assert len(account.queue.to(email, "reset_password")) == 1


async def test_forgot_sends_nothing_to_a_disabled_account(account: Account, sql: Any) -> None:
    email = await account.auth.register()
    await sql("UPDATE users SET is_active = false WHERE email = %s", email)
    assert (await account.client.post("/auth/password/forgot",
                                      json={"email": email})).status_code == 202
    assert not account.queue.to(email, "reset_password")


# --- change password -----------------------------------------------------------------------

async def test_change_password_ends_the_other_sessions(account: Account, problem: Any) -> None:
    email, current = await account.signed_in()
    other = await account.auth.login(email)
    wrong = await account.client.post("/auth/password/change", headers=bearer(current), json={
        "current_password": "not my password", "new_password": NEW_PASSWORD})
    problem(wrong, 403, "invalid_password")
    weak = await account.client.post("/auth/password/change", headers=bearer(current), json={
        "current_password": PASSWORD, "new_password": "password1234"})
    problem(weak, 422, "password_too_common")
    assert not account.queue.to(email, "password_changed")
    changed = await account.client.post("/auth/password/change", headers=bearer(current), json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.text
    problem(await account.client.post("/auth/refresh",
                                      json={"refresh_token": other["refresh_token"]}),
            401, "invalid_refresh_token")
    kept = await account.client.post("/auth/refresh",
                                     json={"refresh_token": current["refresh_token"]})
    assert kept.status_code == 200
    assert len(account.queue.to(email, "password_changed")) == 1
    await account.auth.login(email, NEW_PASSWORD)


async def test_change_password_can_keep_the_other_sessions(account: Account) -> None:
    email, current = await account.signed_in()
    other = await account.auth.login(email)
    changed = await account.client.post("/auth/password/change", headers=bearer(current), json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "sign_out_other_sessions": False})
    assert changed.status_code == 204
    kept = await account.client.post("/auth/refresh",
                                     json={"refresh_token": other["refresh_token"]})
    assert kept.status_code == 200


async def test_change_password_needs_a_token(account: Account, problem: Any) -> None:
    refused = await account.client.post("/auth/password/change", json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    problem(refused, 401, "missing_token")


# --- email change --------------------------------------------------------------------------

async def test_email_change(account: Account, problem: Any) -> None:
    email, tokens = await account.signed_in()
    new = new_email()
    wrong = await account.client.post("/auth/email/change", headers=bearer(tokens), json={
        "new_email": new, "current_password": "not my password"})
    problem(wrong, 403, "invalid_password")
    same = await account.client.post("/auth/email/change", headers=bearer(tokens), json={
        "new_email": email.upper(), "current_password": PASSWORD})
    problem(same, 422, "email_unchanged")
    asked = await account.client.post("/auth/email/change", headers=bearer(tokens), json={
        "new_email": new.upper(), "current_password": PASSWORD})
    assert asked.status_code == 202, asked.text
    mail = account.queue.last(new, "email_change")
    assert mail.context["link"].startswith(f"{BASE_URL}/account/email#token=")
    assert mail.context["expires_in"] == "1 hour"
    assert not account.queue.to(email, "email_changed")
    assert (await _profile(account, tokens))["email"] == email  # nothing changed yet
    confirmed = await account.client.post("/auth/email/change/confirm",
                                          json={"token": mail.token})
    assert confirmed.status_code == 204, confirmed.text
    profile = await _profile(account, tokens)
    assert profile["email"] == new
    assert profile["email_verified"] is True
    told = account.queue.last(email, "email_changed")
    assert told.context == {"new_email": new}
    problem(await account.client.post("/auth/email/change/confirm", json={"token": mail.token}),
            400, "invalid_or_expired_token")
    await account.auth.login(new)


async def test_email_change_to_a_taken_address(account: Account, problem: Any) -> None:
    _, tokens = await account.signed_in()
    taken = await account.auth.register()
    asked = await account.client.post("/auth/email/change", headers=bearer(tokens), json={
        "new_email": taken, "current_password": PASSWORD})
    assert asked.status_code == 202
    token = account.queue.last(taken, "email_change").token
    problem(await account.client.post("/auth/email/change/confirm", json={"token": token}),
            409, "email_taken")


async def test_email_change_token_dies_when_the_address_changed_since(
        account: Account, problem: Any) -> None:
    _, tokens = await account.signed_in()
    first, second = new_email(), new_email()
    for new in (first, second):
        await account.client.post("/auth/email/change", headers=bearer(tokens), json={
            "new_email": new, "current_password": PASSWORD})
    second_token = account.queue.last(second, "email_change").token
    first_token = account.queue.last(first, "email_change").token
    assert (await account.client.post("/auth/email/change/confirm",
                                      json={"token": second_token})).status_code == 204
    problem(await account.client.post("/auth/email/change/confirm",
                                      json={"token": first_token}),
            400, "invalid_or_expired_token")


# --- enumeration-safe registration ---------------------------------------------------------

async def test_enumeration_safe_registration(open_account: Any) -> None:
    async with open_account(REGISTRATION_ENUMERATION_SAFE=True) as account:
        email = new_email()
        body = {"email": email, "password": PASSWORD}
        created = await account.client.post("/auth/register", json=body)
        again = await account.client.post("/auth/register", json={**body, "email": email.upper()})
        assert created.status_code == again.status_code == 202, (created.text, again.text)
        assert created.content == again.content
        assert len(account.queue.to(email, "verify_email")) == 1
        attempt = account.queue.last(email, "signup_attempt")
        assert f"{BASE_URL}/account/reset" in attempt.rendered.text
        await account.auth.login(email)  # the first registration made the account


async def test_registration_answers_409_by_default(account: Account, problem: Any) -> None:
    email = await account.auth.register()
    again = await account.client.post("/auth/register",
                                      json={"email": email, "password": PASSWORD})
    problem(again, 409, "email_taken")
    assert not account.queue.to(email, "signup_attempt")
