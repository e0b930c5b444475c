"""MFA (issue 18) against the real user service, PostgreSQL and Redis Cluster: enrolment,
login with an mfa_token and a TOTP code computed here, replay refused, recovery codes used
once, wrong codes counted and throttled, step-up enforced and satisfied by reauthentication,
refresh carrying amr/auth_time forward, disable, and an admin's reset.

TOTP codes are computed for explicit steps around the step the test started in: a code of
step S stays valid while the server's clock is in S-1..S+1, so nothing here races the wall
clock (a "second distinct code" is the next step's, which the window accepts)."""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared import totp

from .conftest import PASSWORD, AppFactory, AuthApp
from .test_account import RecordingQueue

NEW_PASSWORD = "another entirely fine passphrase"


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@dataclass
class Enrolled:
    """An account with MFA on, the secret its app holds and its recovery codes."""

    email: str
    user_id: str
    secret: str
    recovery_codes: list[str]
    tokens: dict[str, Any]  # the pre-MFA session (amr ["pwd"])
    step: int  # the step whose code confirmed the enrolment (already spent)
    used: list[str] = field(default_factory=list)

    def code(self, step_offset: int) -> str:
        """The code of the confirming step plus `step_offset`."""
        return totp.hotp(totp.secret_from_base32(self.secret), self.step + step_offset)


class Mfa:
    def __init__(self, auth: AuthApp) -> None:
        self.auth = auth
        self.client = auth.client

    async def enrolled(self) -> Enrolled:
        email = await self.auth.register()
        tokens = await self.auth.login(email)
        started = await self.client.post("/auth/mfa/totp",
                                         headers=bearer(tokens["access_token"]))
        assert started.status_code == 200, started.text
        secret = started.json()["secret"]
        step = totp.current_step()
        confirmed = await self.client.post(
            "/auth/mfa/totp/confirm", headers=bearer(tokens["access_token"]),
            json={"code": totp.hotp(totp.secret_from_base32(secret), step)})
        assert confirmed.status_code == 200, confirmed.text
        principal = await self.auth.resources.verifier.verify(tokens["access_token"])
        return Enrolled(email, principal.subject, secret, confirmed.json()["recovery_codes"],
                        tokens, step)

    async def password_step(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post("/auth/login",
                                          json={"email": email, "password": password})
        assert response.status_code == 403, response.text
        body: dict[str, Any] = response.json()
        assert body["code"] == "mfa_required"
        return body

    async def second_step(self, mfa_token: str, code: str) -> Any:
        return await self.client.post("/auth/login/mfa",
                                      json={"mfa_token": mfa_token, "code": code})

    async def sign_in(self, email: str, code: str) -> dict[str, Any]:
        challenge = await self.password_step(email)
        response = await self.second_step(challenge["mfa_token"], code)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def claims(self, access_token: str) -> dict[str, Any]:
        principal = await self.auth.resources.verifier.verify(access_token)
        return principal.claims


@pytest.fixture
async def mfa(auth: AuthApp) -> Mfa:
    return Mfa(auth)


@pytest.fixture
def admin_redis(redis_cluster: Any) -> Iterator[Any]:
    client = redis_cluster.cluster_client()
    yield client
    client.close()


async def test_enrolment_gives_an_app_uri_a_qr_code_and_recovery_codes(
        mfa: Mfa, problem: Any) -> None:
    email = await mfa.auth.register()
    tokens = await mfa.auth.login(email)
    auth = bearer(tokens["access_token"])
    # Confirming before starting: nothing pending.
    problem(await mfa.client.post("/auth/mfa/totp/confirm", headers=auth,
                                  json={"code": "123456"}), 409, "mfa_not_pending")
    started = (await mfa.client.post("/auth/mfa/totp", headers=auth)).json()
    secret = started["secret"]
    assert len(totp.secret_from_base32(secret)) == 20
    assert "=" not in secret
    uri = urlsplit(started["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == f"/Auth:{email}"
    assert parse_qs(uri.query) == {"secret": [secret], "issuer": ["Auth"],
                                   "algorithm": ["SHA1"], "digits": ["6"], "period": ["30"]}
    assert started["qr_code"].startswith("data:image/svg+xml")
    # MFA is not on until confirmed: the password alone still signs in.
    assert (await mfa.auth.login(email))["access_token"]
    wrong = totp.hotp(totp.secret_from_base32(secret), totp.current_step() + 10)
    problem(await mfa.client.post("/auth/mfa/totp/confirm", headers=auth,
                                  json={"code": wrong}), 401, "invalid_mfa_code")
    code = totp.totp_code(secret)
    confirmed = await mfa.client.post("/auth/mfa/totp/confirm", headers=auth,
                                      json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    problem(await mfa.client.post("/auth/mfa/totp", headers=auth), 409, "mfa_already_enabled")
    # The confirming code is spent: it cannot complete a sign-in.
    challenge = await mfa.password_step(email)
    problem(await mfa.second_step(challenge["mfa_token"], code), 401, "invalid_mfa_code")


async def test_login_needs_the_code_and_the_session_shows_both_factors(
        mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    sessions_before = await mfa.client.get("/auth/sessions",
                                           headers=bearer(account.tokens["access_token"]))
    challenge = await mfa.password_step(account.email)
    assert set(challenge) >= {"mfa_token", "expires_in", "type", "status", "request_id"}
    assert challenge["expires_in"] == 300
    assert "access_token" not in challenge
    assert "refresh_token" not in challenge
    # No session yet: the password step alone started none.
    listed = await mfa.client.get("/auth/sessions",
                                  headers=bearer(account.tokens["access_token"]))
    assert len(listed.json()["items"]) == len(sessions_before.json()["items"])
    # A wrong password is the usual 401, with no hint that MFA is on.
    wrong = await mfa.client.post("/auth/login", json={"email": account.email,
                                                       "password": "not the password!"})
    problem(wrong, 401, "invalid_credentials")
    before = int(time.time())
    response = await mfa.second_step(challenge["mfa_token"], account.code(+1))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["device_token"]
    assert "device_token" in response.cookies
    claims = await mfa.claims(tokens["access_token"])
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] >= before
    items = (await mfa.client.get("/auth/sessions",
                                  headers=bearer(tokens["access_token"]))).json()["items"]
    assert [i["amr"] for i in items if i["current"]] == [["pwd", "otp"]]
    # The mfa_token was single use.
    problem(await mfa.second_step(challenge["mfa_token"], account.code(+1)), 401,
            "invalid_mfa_token")


async def test_a_totp_code_works_once(mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    await mfa.sign_in(account.email, account.code(+1))
    # The same code again (a replay within its validity window) and an older one.
    for code in (account.code(+1), account.code(0)):
        challenge = await mfa.password_step(account.email)
        problem(await mfa.second_step(challenge["mfa_token"], code), 401, "invalid_mfa_code")


async def test_recovery_codes_work_once(mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    code = account.recovery_codes[0]
    tokens = await mfa.sign_in(account.email, code)
    assert (await mfa.claims(tokens["access_token"]))["amr"] == ["pwd", "mfa"]
    challenge = await mfa.password_step(account.email)
    problem(await mfa.second_step(challenge["mfa_token"], code), 401, "invalid_mfa_code")
    # Another of the set still works, typed in upper case.
    assert await mfa.sign_in(account.email, account.recovery_codes[1].upper())


async def test_wrong_codes_do_not_spend_the_token_until_the_fifth(
        mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    challenge = await mfa.password_step(account.email)
    token = challenge["mfa_token"]
    problem(await mfa.second_step(token, "000000" if account.code(1) != "000000" else "111111"),
            401, "invalid_mfa_code")
    assert (await mfa.second_step(token, account.code(+1))).status_code == 200

    challenge = await mfa.password_step(account.email)
    token = challenge["mfa_token"]
    for n in range(5):
        problem(await mfa.second_step(token, f"wrong-recovery-{n}"), 401, "invalid_mfa_code")
    # Dead after five wrong codes, even for a good one.
    problem(await mfa.second_step(token, account.recovery_codes[0]), 401, "invalid_mfa_token")
    problem(await mfa.second_step("garbage", "123456"), 401, "invalid_mfa_token")


async def test_wrong_codes_are_throttled_and_a_new_password_step_buys_no_more(
        auth_app_factory: AppFactory, problem: Any) -> None:
    # A delay no busy machine outlasts between two requests: the verdict is the counter's.
    async with auth_app_factory(THROTTLE_ACCOUNT_FREE_FAILURES=2, THROTTLE_PAIR_FREE_FAILURES=2,
                                THROTTLE_BASE_DELAY_SECONDS=300) as auth:
        mfa = Mfa(auth)
        account = await mfa.enrolled()
        challenge = await mfa.password_step(account.email)
        for n in range(3):  # the third is past the free ones and starts a delay
            problem(await mfa.second_step(challenge["mfa_token"], f"wrong-{n}"), 401,
                    "invalid_mfa_code")
        throttled = await mfa.second_step(challenge["mfa_token"], account.recovery_codes[0])
        problem(throttled, 429, "login_throttled")
        assert int(throttled.headers["retry-after"]) > 200
        # The password is still right, but it clears no code counter.
        again = await mfa.password_step(account.email)
        problem(await mfa.second_step(again["mfa_token"], account.recovery_codes[0]), 429,
                "login_throttled")


async def test_step_up_is_enforced_then_satisfied_by_reauthentication(
        mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    old = bearer(account.tokens["access_token"])  # a password-only session
    problem(await mfa.client.post("/auth/password/change", headers=old, json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD}), 403, "step_up_required")
    problem(await mfa.client.post("/auth/email/change", headers=old, json={
        "new_email": mfa.auth.new_email(), "current_password": PASSWORD}), 403,
        "step_up_required")
    problem(await mfa.client.post("/auth/mfa/recovery-codes", headers=old), 403,
            "step_up_required")
    problem(await mfa.client.request("DELETE", "/auth/mfa/totp", headers=old, json={
        "password": PASSWORD, "code": account.code(+1)}), 403, "step_up_required")

    problem(await mfa.client.post("/auth/reauthenticate", headers=old,
                                  json={"password": PASSWORD}), 400, "mfa_code_required")
    problem(await mfa.client.post("/auth/reauthenticate", headers=old, json={
        "password": "not the password!", "code": account.code(+1)}), 403, "invalid_password")
    before = int(time.time())
    fresh = await mfa.client.post("/auth/reauthenticate", headers=old,
                                  json={"password": PASSWORD, "code": account.code(+1)})
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    claims = await mfa.claims(body["access_token"])
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] >= before
    old_claims = await mfa.claims(account.tokens["access_token"])
    assert claims["sid"] == old_claims["sid"]

    # The session remembers the step-up: its refresh carries amr and auth_time forward.
    refreshed = await mfa.client.post("/auth/refresh", json={
        "refresh_token": account.tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    carried = await mfa.claims(refreshed.json()["access_token"])
    assert (carried["amr"], carried["auth_time"]) == (claims["amr"], claims["auth_time"])

    codes = await mfa.client.post("/auth/mfa/recovery-codes",
                                  headers=bearer(body["access_token"]))
    assert codes.status_code == 200
    new_codes = codes.json()["recovery_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(account.recovery_codes)
    fresh_auth = bearer(body["access_token"])
    changed = await mfa.client.post("/auth/password/change", headers=fresh_auth,
                                    json={"current_password": PASSWORD,
                                          "new_password": NEW_PASSWORD,
                                          "sign_out_other_sessions": False})
    assert changed.status_code == 204, changed.text


async def test_refresh_keeps_the_login_auth_time_and_old_sessions_read_their_creation(
        mfa: Mfa, admin_redis: Any) -> None:
    account = await mfa.enrolled()
    tokens = await mfa.sign_in(account.email, account.code(+1))
    first = await mfa.claims(tokens["access_token"])
    sid, user_id = first["sid"], first["sub"]
    key = f"sess:{{u:{user_id}}}:{sid}"
    # An hour-old sign-in: its refreshes do not make it recent.
    admin_redis.hset(key, "auth_time", first["auth_time"] - 3600)
    refreshed = (await mfa.client.post("/auth/refresh", json={
        "refresh_token": tokens["refresh_token"]})).json()
    claims = await mfa.claims(refreshed["access_token"])
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] == first["auth_time"] - 3600
    problem_response = await mfa.client.post("/auth/mfa/recovery-codes",
                                             headers=bearer(refreshed["access_token"]))
    assert problem_response.json()["code"] == "step_up_required"
    # A session stored before auth_time existed: its creation stands in.
    admin_redis.hdel(key, "auth_time")
    admin_redis.hset(key, "created", 1_700_000_000)
    again = (await mfa.client.post("/auth/refresh", json={
        "refresh_token": refreshed["refresh_token"]})).json()
    assert (await mfa.claims(again["access_token"]))["auth_time"] == 1_700_000_000


async def test_disable_needs_a_recent_factor_and_both_factors(mfa: Mfa, problem: Any) -> None:
    account = await mfa.enrolled()
    tokens = await mfa.sign_in(account.email, account.recovery_codes[0])
    auth = bearer(tokens["access_token"])
    problem(await mfa.client.request("DELETE", "/auth/mfa/totp", headers=auth, json={
        "password": PASSWORD, "code": account.recovery_codes[0]}), 401, "invalid_mfa_code")
    problem(await mfa.client.request("DELETE", "/auth/mfa/totp", headers=auth, json={
        "password": "not the password!", "code": account.code(+1)}), 403, "invalid_password")
    response = await mfa.client.request("DELETE", "/auth/mfa/totp", headers=auth, json={
        "password": PASSWORD, "code": account.code(+1)})
    assert response.status_code == 204, response.text
    assert (await mfa.auth.login(account.email))["access_token"]  # the password alone again
    problem(await mfa.client.post("/auth/mfa/recovery-codes", headers=auth), 409,
            "mfa_not_enabled")


async def test_an_admin_resets_a_users_mfa_and_their_sessions_end(
        mfa: Mfa, sql: Any, problem: Any) -> None:
    account = await mfa.enrolled()
    user_tokens = await mfa.sign_in(account.email, account.code(+1))
    admin_email = await mfa.auth.register()
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", admin_email)
    admin = await mfa.auth.login(admin_email)
    path = f"/auth/admin/users/{account.user_id}/mfa"
    problem(await mfa.client.delete(path, headers=bearer(user_tokens["access_token"])), 403,
            "forbidden")
    pending = await mfa.password_step(account.email)  # a sign-in half-way through the reset
    assert (await mfa.client.delete(path, headers=bearer(admin["access_token"]))).status_code \
        == 204
    problem(await mfa.second_step(pending["mfa_token"], "123456"), 401, "invalid_mfa_token")
    for tokens in (account.tokens, user_tokens):
        problem(await mfa.client.post("/auth/refresh", json={
            "refresh_token": tokens["refresh_token"]}), 401, "invalid_refresh_token")
    assert (await mfa.auth.login(account.email))["access_token"]  # no second step now
    problem(await mfa.client.delete("/auth/admin/users/00000000-0000-0000-0000-000000000000/mfa",
                                    headers=bearer(admin["access_token"])), 404,
            "user_not_found")


async def test_an_admin_with_mfa_needs_a_recent_factor_for_admin_routes(
        mfa: Mfa, sql: Any, admin_redis: Any, problem: Any) -> None:
    admin = await mfa.enrolled()
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", admin.email)
    target_email = await mfa.auth.register()
    target = await mfa.claims((await mfa.auth.login(target_email))["access_token"])
    sessions = f"/auth/admin/users/{target['sub']}/sessions"
    # The admin's pre-MFA session, refreshed (so its token has the admin role): amr pwd.
    refreshed = await mfa.client.post("/auth/refresh", json={
        "refresh_token": admin.tokens["refresh_token"]})
    password_only = bearer(refreshed.json()["access_token"])
    problem(await mfa.client.get(sessions, headers=password_only), 403, "step_up_required")
    problem(await mfa.client.delete(f"/auth/admin/users/{target['sub']}/mfa",
                                    headers=password_only), 403, "step_up_required")
    tokens = await mfa.sign_in(admin.email, admin.code(+1))
    assert (await mfa.client.get(sessions, headers=bearer(tokens["access_token"]))) \
        .status_code == 200
    # The same sign-in an hour later (its session's auth_time moved back): too old.
    claims = await mfa.claims(tokens["access_token"])
    admin_redis.hset(f"sess:{{u:{claims['sub']}}}:{claims['sid']}", "auth_time",
                     claims["auth_time"] - 3600)
    later = await mfa.client.post("/auth/refresh",
                                  json={"refresh_token": tokens["refresh_token"]})
    problem(await mfa.client.get(sessions, headers=bearer(later.json()["access_token"])), 403,
            "step_up_required")


async def test_login_without_mfa_is_unchanged(auth: AuthApp) -> None:
    email = await auth.register()
    tokens = await auth.login(email)
    principal = await auth.resources.verifier.verify(tokens["access_token"])
    assert principal.amr == ("pwd",)
    assert abs(principal.auth_time - principal.issued_at) <= 1


async def test_turning_mfa_on_and_off_mails_the_account(mfa: Mfa, sql: Any) -> None:
    queue = RecordingQueue()
    mfa.auth.resources.account.use_queue(queue)
    account = await mfa.enrolled()
    enabled = queue.last(account.email, "mfa_enabled")
    assert "turned on" in enabled.rendered.text
    assert account.secret not in enabled.rendered.text + enabled.rendered.html
    assert not any(code in enabled.rendered.text for code in account.recovery_codes)
    admin_email = await mfa.auth.register()
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", admin_email)
    admin = await mfa.auth.login(admin_email)
    reset = await mfa.client.delete(f"/auth/admin/users/{account.user_id}/mfa",
                                    headers=bearer(admin["access_token"]))
    assert reset.status_code == 204
    assert "turned off" in queue.last(account.email, "mfa_disabled").rendered.text
