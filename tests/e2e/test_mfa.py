"""MFA through the gateway (issue 18): enrolment, a login completed with a TOTP code computed
here, the replayed code refused, a recovery code used once, wrong codes throttled, step-up
enforced then satisfied by /auth/reauthenticate, refresh keeping amr/auth_time, and an
admin's reset ending the user's sessions.

TOTP codes are computed for explicit steps from the one the enrolment was confirmed in
(S): the server accepts S-1..S+1 around its clock, so S and S+1 stay valid for the test's
first half minute at least, and nothing here sleeps for the clock or races it. A second
distinct code is S+1; after that, recovery codes stand in for fresh factors."""

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from devstack.testkit.traffic import poll
from shared import totp

from .conftest import Account, ClientFactory, Register


def claims(access_token: str) -> dict[str, Any]:
    """A token's claims, unverified (the gateway verified it; this test only reads them)."""
    payload = access_token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(padded))
    return decoded


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@dataclass
class Enrolled:
    account: Account
    secret: str
    step: int  # the confirming code's step (spent by the confirmation)
    recovery_codes: list[str]

    def code(self, step_offset: int) -> str:
        return totp.hotp(totp.secret_from_base32(self.secret), self.step + step_offset)


async def enrol(client: httpx.AsyncClient, account: Account) -> Enrolled:
    started = await client.post("/auth/mfa/totp", headers=account.bearer)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/Auth:")
    assert body["qr_code"].startswith("data:image/svg+xml")
    step = totp.current_step()
    code = totp.hotp(totp.secret_from_base32(body["secret"]), step)
    confirmed = await client.post("/auth/mfa/totp/confirm", headers=account.bearer,
                                  json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    return Enrolled(account, body["secret"], step, codes)


async def password_step(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post("/auth/login", json={"email": account.email,
                                                      "password": account.password})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "mfa_required"
    assert "access_token" not in body
    assert response.headers["content-type"].startswith("application/problem+json")
    token: str = body["mfa_token"]
    return token


async def second_step(client: httpx.AsyncClient, mfa_token: str, code: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, "code": code})


async def sign_in(client: httpx.AsyncClient, account: Account, code: str) -> dict[str, Any]:
    response = await second_step(client, await password_step(client, account), code)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def test_enrol_then_sign_in_with_totp_and_recovery_codes(
        new_client: ClientFactory, register: Register, problem: Any) -> None:
    client = new_client()
    enrolled = await enrol(client, await register(client, "mfa"))
    account = enrolled.account
    # The confirming code is spent: replaying it completes no sign-in.
    token = await password_step(client, account)
    problem(await second_step(client, token, enrolled.code(0)), 401, "invalid_mfa_code")
    # The wrong code did not spend the mfa_token: the next step's code completes it.
    response = await second_step(client, token, enrolled.code(+1))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert claims(tokens["access_token"])["amr"] == ["pwd", "otp"]
    me = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["mfa_enabled"] is True
    # That code again, with a new password step: a replay.
    problem(await second_step(client, await password_step(client, account), enrolled.code(+1)),
            401, "invalid_mfa_code")

    other = new_client()  # its own rate-limit bucket for the recovery-code half
    recovered = await sign_in(other, account, enrolled.recovery_codes[0])
    assert claims(recovered["access_token"])["amr"] == ["pwd", "mfa"]
    problem(await second_step(other, await password_step(other, account),
                              enrolled.recovery_codes[0]), 401, "invalid_mfa_code")


async def test_wrong_codes_are_throttled(new_client: ClientFactory, register: Register,
                                         problem: Any) -> None:
    client = new_client()
    enrolled = await enrol(client, await register(client, "mfa-throttle"))
    refused: list[int] = []
    token = ""
    # Wrong codes from addresses that never completed MFA for the account: the first few
    # are free (THROTTLE_ACCOUNT_FREE_FAILURES), then each sets a doubling delay, so within
    # a few more one arrives inside the delay. Addresses rotate to stay under the gateway's
    # per-IP bucket; an mfa_token dies after five wrong codes, so a new one is fetched.
    for attempt in range(16):
        if attempt % 4 == 0:
            client = new_client()
            token = await password_step(client, enrolled.account)
        response = await second_step(client, token, f"wrong-code-{attempt}")
        refused.append(response.status_code)
        if response.status_code == 429:
            problem(response, 429, "login_throttled")
            assert int(response.headers["retry-after"]) >= 1
            break
        problem(response, 401, "invalid_mfa_code")
    assert refused[:5] == [401] * 5  # the free failures are never throttled
    assert refused[-1] == 429, refused


async def test_step_up_is_enforced_then_satisfied_by_reauthentication(
        new_client: ClientFactory, register: Register, problem: Any) -> None:
    client = new_client()
    enrolled = await enrol(client, await register(client, "mfa-stepup"))
    account = enrolled.account
    old = account.bearer  # the session from before MFA: amr ["pwd"]
    new_password = "a brand new passphrase 43"
    change = {"current_password": account.password, "new_password": new_password,
              "sign_out_other_sessions": False}
    problem(await client.post("/auth/password/change", headers=old, json=change), 403,
            "step_up_required")
    problem(await client.post("/auth/mfa/recovery-codes", headers=old), 403, "step_up_required")
    problem(await client.post("/auth/reauthenticate", headers=old,
                              json={"password": account.password}), 400, "mfa_code_required")
    fresh = await client.post("/auth/reauthenticate", headers=old, json={
        "password": account.password, "code": enrolled.code(+1)})
    assert fresh.status_code == 200, fresh.text
    fresh_token = fresh.json()["access_token"]
    stepped_up = claims(fresh_token)
    assert stepped_up["amr"] == ["pwd", "otp"]
    assert stepped_up["sid"] == claims(account.tokens["access_token"])["sid"]
    assert stepped_up["auth_time"] >= claims(account.tokens["access_token"])["auth_time"]
    # The session's refresh carries the step-up forward, unchanged.
    refreshed = await client.post("/auth/refresh",
                                  json={"refresh_token": account.tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    carried = claims(refreshed.json()["access_token"])
    assert (carried["amr"], carried["auth_time"]) == (stepped_up["amr"], stepped_up["auth_time"])
    changed = await client.post("/auth/password/change", headers=bearer(fresh_token),
                                json=change)
    assert changed.status_code == 204, changed.text


def promote(stack: Any, email: str) -> None:
    done = stack.service_command("user-service", "create-admin", "--email", email)
    assert done.returncode == 0, done.stdout + done.stderr


async def test_an_admin_reset_ends_the_users_sessions(
        request: pytest.FixtureRequest, new_client: ClientFactory, register: Register,
        problem: Any) -> None:
    stack = request.getfixturevalue("stack")
    client = new_client()
    enrolled = await enrol(client, await register(client, "mfa-lost-device"))
    user_tokens = await sign_in(client, enrolled.account, enrolled.code(+1))
    admin_client = new_client()
    admin = await register(admin_client, "mfa-admin")
    await asyncio.to_thread(promote, stack, admin.email)
    login = await admin_client.post("/auth/login", json={"email": admin.email,
                                                         "password": admin.password})
    admin_token = login.json()["access_token"]
    path = f"/auth/admin/users/{enrolled.account.user['id']}/mfa"
    problem(await client.delete(path, headers=bearer(user_tokens["access_token"])), 403,
            "forbidden")
    response = await admin_client.delete(path, headers=bearer(admin_token))
    assert response.status_code == 204, response.text
    for tokens in (enrolled.account.tokens, user_tokens):
        problem(await client.post("/auth/refresh", json={
            "refresh_token": tokens["refresh_token"]}), 401, "invalid_refresh_token")

    async def access_refused() -> bool:
        me = await client.get("/users/me", headers=bearer(user_tokens["access_token"]))
        return me.status_code == 401 and me.json().get("code") == "token_revoked"

    await poll(access_refused, 10, "the user's access token refused after the reset",
               interval=0.2)
    # The password alone signs in again (a new enrolment is up to the user).
    relogin = await client.post("/auth/login", json={"email": enrolled.account.email,
                                                     "password": enrolled.account.password})
    assert relogin.status_code == 200, relogin.text


@pytest.mark.parametrize("request_line", [
    ("POST", "/auth/mfa/totp"), ("DELETE", "/auth/mfa/totp"), ("POST", "/auth/mfa/totp/confirm"),
    ("POST", "/auth/mfa/recovery-codes"), ("POST", "/auth/reauthenticate"),
    ("DELETE", "/auth/admin/users/x/mfa"),
])
async def test_mfa_paths_need_a_token_at_the_edge(client: httpx.AsyncClient,
                                                  request_line: tuple[str, str],
                                                  problem: Any) -> None:
    method, path = request_line
    problem(await client.request(method, path), 401, "missing_token")


async def test_the_second_step_needs_no_bearer_but_a_live_mfa_token(
        client: httpx.AsyncClient, problem: Any) -> None:
    problem(await second_step(client, "no-such.token", "123456"), 401, "invalid_mfa_token")
