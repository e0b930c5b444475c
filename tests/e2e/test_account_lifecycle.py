"""Account lifecycle through the gateway, with the mail the stack really delivered (read
from the capture SMTP server's Maildir): register -> verification mail -> token from the
link -> verified; forgot -> reset -> the old sessions refused; single use; a reset link
dead after a password change; the same 202 body for known and unknown addresses; change
password; email change. Expiry (the server's TTL) is tested in auth-service/tests."""

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from devstack.mailcapture import CapturedMail, captured

from .conftest import ClientFactory, register_and_login, unique_email

NEW_PASSWORD = "a completely different passphrase 7"
HANG_GUARD = 60.0  # seconds a mail may take on a loaded machine; nothing asserts the time
SUBJECTS = {"verify": "Confirm your email address", "reset": "Reset your password",
            "email": "Confirm your new email address"}
_LINK = re.compile(r"(https?://\S+?/account/(verify|reset|email))#token=([A-Za-z0-9_\-.]+)")


async def _mail(mail_dir: Path, to: str, subject: str) -> CapturedMail:
    """The newest mail to `to` whose subject contains `subject`, once it has arrived."""
    for _ in range(int(HANG_GUARD / 0.05)):
        found = [m for m in captured(mail_dir, to) if subject in m.subject]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no mail '{subject}' to {to} in {mail_dir}: "
                         f"{[m.subject for m in captured(mail_dir, to)]}")


async def _token(mail_dir: Path, to: str, page: str) -> str:
    """The token of the newest mail to `to` whose link opens /account/`page`."""
    mail = await _mail(mail_dir, to, SUBJECTS[page])
    for _, found_page, token in _LINK.findall(mail.text):
        if found_page == page:
            assert f"#token={token}" in mail.html  # both parts carry the link
            return token
    raise AssertionError(f"no /account/{page} link in {mail.text}")


def _bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_register_verify_by_the_mailed_link(new_client: ClientFactory, mail_dir: Path,
                                                  problem: Any) -> None:
    client = new_client()
    account = await register_and_login(client, "verify")
    assert account.user["email_verified"] is False
    me = await client.get("/users/me", headers=account.bearer)
    assert me.json()["email_verified"] is False
    token = await _token(mail_dir, account.email, "verify")
    # A GET of the API path spends nothing (it is not even routed as a GET).
    assert (await client.get("/auth/verify-email")).status_code in (404, 405)
    verified = await client.post("/auth/verify-email", json={"token": token})
    assert verified.status_code == 204, verified.text
    me = await client.get("/users/me", headers=account.bearer)
    assert me.json()["email_verified"] is True
    again = await client.post("/auth/verify-email", json={"token": token})
    problem(again, 400, "invalid_or_expired_token")


async def test_forgot_reset_ends_the_old_sessions(new_client: ClientFactory, mail_dir: Path,
                                                  problem: Any) -> None:
    client = new_client()
    account = await register_and_login(client, "reset")
    other = await client.post("/auth/login",
                              json={"email": account.email, "password": account.password})
    assert other.status_code == 200
    forgot = await client.post("/auth/password/forgot", json={"email": account.email})
    assert forgot.status_code == 202, forgot.text
    token = await _token(mail_dir, account.email, "reset")
    reset = await client.post("/auth/password/reset",
                              json={"token": token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204, reset.text
    for pair in (account.tokens, other.json()):
        problem(await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
                401, "invalid_refresh_token")
    # The access tokens of the ended sessions are refused at the gateway and the user
    # service once the revocation has reached them (about a second).
    for _ in range(100):
        me = await client.get("/users/me", headers=account.bearer)
        if me.status_code == 401:
            break
        await asyncio.sleep(0.1)
    problem(me, 401)
    problem(await client.post("/auth/login",
                              json={"email": account.email, "password": account.password}),
            401, "invalid_credentials")
    fresh = await client.post("/auth/login",
                              json={"email": account.email, "password": NEW_PASSWORD})
    assert fresh.status_code == 200
    problem(await client.post("/auth/password/reset",
                              json={"token": token, "new_password": NEW_PASSWORD + "!"}),
            400, "invalid_or_expired_token")
    await _mail(mail_dir, account.email, "Your password was changed")


async def test_reset_link_dies_when_the_password_changes(new_client: ClientFactory,
                                                         mail_dir: Path, problem: Any) -> None:
    client = new_client()
    account = await register_and_login(client, "stale")
    await client.post("/auth/password/forgot", json={"email": account.email})
    token = await _token(mail_dir, account.email, "reset")
    changed = await client.post("/auth/password/change", headers=account.bearer, json={
        "current_password": account.password, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.text
    problem(await client.post("/auth/password/reset",
                              json={"token": token, "new_password": account.password + "!"}),
            400, "invalid_or_expired_token")


async def test_answers_are_the_same_for_known_and_unknown_addresses(
        new_client: ClientFactory) -> None:
    client = new_client()
    account = await register_and_login(client, "same")
    for path in ("/auth/password/forgot", "/auth/verify-email/resend"):
        known = await client.post(path, json={"email": account.email})
        unknown = await client.post(path, json={"email": unique_email("nobody")})
        assert known.status_code == unknown.status_code == 202, (known.text, unknown.text)
        assert known.content == unknown.content
        assert known.headers["content-type"] == unknown.headers["content-type"]


async def test_change_password_keeps_only_this_session(new_client: ClientFactory,
                                                       problem: Any) -> None:
    client = new_client()
    account = await register_and_login(client, "change")
    other = (await client.post("/auth/login", json={
        "email": account.email, "password": account.password})).json()
    problem(await client.post("/auth/password/change", json={
        "current_password": account.password, "new_password": NEW_PASSWORD}), 401)
    changed = await client.post("/auth/password/change", headers=account.bearer, json={
        "current_password": account.password, "new_password": NEW_PASSWORD})
    assert changed.status_code == 204, changed.text
    problem(await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}),
            401, "invalid_refresh_token")
    kept = await client.post("/auth/refresh",
                             json={"refresh_token": account.tokens["refresh_token"]})
    assert kept.status_code == 200


async def test_email_change_by_the_mailed_link(new_client: ClientFactory, mail_dir: Path,
                                               problem: Any) -> None:
    client = new_client()
    account = await register_and_login(client, "move")
    refused = await client.patch("/users/me", headers=account.bearer,
                                 json={"email": unique_email("patch")})
    problem(refused, 422, "email_change_requires_confirmation")
    new = unique_email("moved")
    asked = await client.post("/auth/email/change", headers=account.bearer, json={
        "new_email": new, "current_password": account.password})
    assert asked.status_code == 202, asked.text
    token = await _token(mail_dir, new, "email")
    confirmed = await client.post("/auth/email/change/confirm", json={"token": token})
    assert confirmed.status_code == 204, confirmed.text
    me = (await client.get("/users/me", headers=account.bearer)).json()
    assert me["email"] == new
    assert me["email_verified"] is True
    told = await _mail(mail_dir, account.email, "Your email address was changed")
    assert new in told.text
    login = await client.post("/auth/login", json={"email": new, "password": account.password})
    assert login.status_code == 200


async def test_account_paths_without_a_token(client: httpx.AsyncClient, problem: Any) -> None:
    for path in ("/auth/verify-email/request", "/auth/password/change", "/auth/email/change"):
        problem(await client.post(path, json={}), 401)
