"""MFA storage (issue 18) through the internal API, against the real PostgreSQL: enrolment,
TOTP checks (codes computed per RFC 6238 by shared.totp), recovery codes, reset, the
secret sealed at rest, key rotation with `user-service mfa-reencrypt`."""

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from shared import totp
from user_service import cli
from user_service.config import Settings
from user_service.mfa_crypto import KeyRing, SealedSecret, UnreadableSecret

CODE_SHAPE = re.compile(r"[a-z2-7]{5}-[a-z2-7]{5}")
KEY_A, KEY_B = KeyRing.new_key_entry("A"), KeyRing.new_key_entry("B")


def wrong_code(secret: str) -> str:
    """A well-formed code that matches no step near now."""
    near = {totp.totp_code(secret, step_offset=offset) for offset in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(0, 10**6, 7919)) if c not in near)


async def _start(client: httpx.AsyncClient, internal: dict[str, str], user_id: str) -> str:
    started = await client.post(f"/internal/users/{user_id}/mfa/totp", headers=internal)
    assert started.status_code == 201, started.text
    assert set(started.json()) == {"secret"}
    secret: str = started.json()["secret"]
    return secret


async def enrol(client: httpx.AsyncClient, internal: dict[str, str],
                user_id: str) -> tuple[str, list[str]]:
    """Start and confirm an enrolment: (the base32 secret, the recovery codes)."""
    secret = await _start(client, internal, user_id)
    confirmed = await client.post(f"/internal/users/{user_id}/mfa/totp/confirm",
                                  json={"code": totp.totp_code(secret)}, headers=internal)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


async def _verify(client: httpx.AsyncClient, internal: dict[str, str], user_id: str,
                  code: str) -> httpx.Response:
    return await client.post(f"/internal/users/{user_id}/mfa/verify", json={"code": code},
                             headers=internal)


async def _consume(client: httpx.AsyncClient, internal: dict[str, str], user_id: str,
                   code: str) -> dict[str, Any]:
    used = await client.post(f"/internal/users/{user_id}/mfa/recovery-codes/consume",
                             json={"code": code}, headers=internal)
    assert used.status_code == 200, used.text
    body: dict[str, Any] = used.json()
    return body


async def _mfa_enabled(client: httpx.AsyncClient, internal: dict[str, str], user: Any) -> bool:
    by_id = (await client.get(f"/internal/users/{user.id}/credentials", headers=internal))
    by_email = await client.post("/internal/credentials", json={"email": user.email},
                                 headers=internal)
    profile = await client.get(f"/internal/users/{user.id}", headers=internal)
    me = await client.get("/users/me", headers=user.auth)
    flags = {r.json()["mfa_enabled"] for r in (by_id, by_email, profile, me)}
    assert len(flags) == 1, flags  # every answer agrees
    return bool(flags.pop())


def _secret_rows(dsn: str) -> dict[str, tuple[str, bytes, bytes]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT user_id, key_id, nonce, ciphertext FROM user_totp_secrets")
        return {str(r[0]): (r[1], bytes(r[2]), bytes(r[3])) for r in rows}


async def test_enrol_confirm_and_verify(client, internal, user, problem) -> None:
    assert await _mfa_enabled(client, internal, user) is False
    secret = await _start(client, internal, user.id)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 20 bytes, base32 without padding
    assert await _mfa_enabled(client, internal, user) is False  # pending is not on
    problem(await _verify(client, internal, user.id, totp.totp_code(secret)),
            409, "mfa_not_enabled")
    confirm = f"/internal/users/{user.id}/mfa/totp/confirm"
    problem(await client.post(confirm, json={"code": wrong_code(secret)}, headers=internal),
            400, "invalid_mfa_code")
    assert await _mfa_enabled(client, internal, user) is False

    confirmed = await client.post(confirm, json={"code": totp.totp_code(secret)},
                                  headers=internal)
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert set(body) == {"step", "recovery_codes"}
    assert abs(body["step"] - totp.current_step()) <= 1
    assert len(body["recovery_codes"]) == 10 == len(set(body["recovery_codes"]))
    assert all(CODE_SHAPE.fullmatch(code) for code in body["recovery_codes"])
    assert await _mfa_enabled(client, internal, user) is True

    problem(await client.post(f"/internal/users/{user.id}/mfa/totp", headers=internal),
            409, "mfa_already_enabled")
    problem(await client.post(confirm, json={"code": totp.totp_code(secret)}, headers=internal),
            409, "mfa_already_enabled")

    ok = await _verify(client, internal, user.id, totp.totp_code(secret))
    assert ok.status_code == 200
    assert ok.json()["valid"] is True
    assert abs(ok.json()["step"] - totp.current_step()) <= 1
    ahead = (await _verify(client, internal, user.id, totp.totp_code(secret, step_offset=1)))
    assert ahead.json()["valid"] is True  # one step of clock skew either side
    for code in (wrong_code(secret), "12345", "abcdef", ""):
        wrong = await _verify(client, internal, user.id, code)
        assert wrong.json() == {"valid": False, "step": None}


async def test_restarting_a_pending_enrolment_replaces_its_secret(
    client, internal, user, problem
) -> None:
    first = await _start(client, internal, user.id)
    second = await _start(client, internal, user.id)
    assert first != second
    confirm = f"/internal/users/{user.id}/mfa/totp/confirm"
    if totp.totp_code(first) != totp.totp_code(second):  # equal codes: 1 in 10^6
        problem(await client.post(confirm, json={"code": totp.totp_code(first)},
                                  headers=internal), 400, "invalid_mfa_code")
    assert (await client.post(confirm, json={"code": totp.totp_code(second)},
                              headers=internal)).status_code == 200


async def test_states_and_unknown_users(client, internal, user, problem) -> None:
    base = f"/internal/users/{user.id}/mfa"
    problem(await client.post(f"{base}/totp/confirm", json={"code": "123456"},
                              headers=internal), 409, "mfa_not_pending")
    problem(await _verify(client, internal, user.id, "123456"), 409, "mfa_not_enabled")
    problem(await client.post(f"{base}/recovery-codes", headers=internal),
            409, "mfa_not_enabled")
    assert await _consume(client, internal, user.id, "aaaaa-aaaaa") == {"valid": False,
                                                                       "remaining": 0}
    problem(await client.post(f"{base}/totp/confirm", json={"code": "1" * 65},
                              headers=internal), 422, "validation_error")
    nobody = f"/internal/users/{uuid.uuid4()}/mfa"
    for method, path, body in [("POST", "/totp", None), ("POST", "/totp/confirm", {"code": "1"}),
                               ("POST", "/verify", {"code": "1"}),
                               ("POST", "/recovery-codes/consume", {"code": "1"}),
                               ("POST", "/recovery-codes", None), ("DELETE", "", None)]:
        response = await client.request(method, nobody + path, json=body, headers=internal)
        problem(response, 404, "user_not_found")
        refused = await client.request(method, nobody + path, json=body)
        problem(refused, 401, "invalid_service_credential")


async def test_recovery_codes_work_once(client, internal, user) -> None:
    _, codes = await enrol(client, internal, user.id)
    assert await _consume(client, internal, user.id, codes[0]) == {"valid": True, "remaining": 9}
    assert await _consume(client, internal, user.id, codes[0]) == {"valid": False,
                                                                   "remaining": 9}
    # Typing is forgiving: case, spaces and the dash do not matter.
    typed = " " + codes[1].upper().replace("-", " ") + " "
    assert await _consume(client, internal, user.id, typed) == {"valid": True, "remaining": 8}
    for garbage in ("", "aaaaa-aaaaa", "123456", codes[2] + "x"):
        assert await _consume(client, internal, user.id, garbage) == {"valid": False,
                                                                      "remaining": 8}


async def test_a_recovery_code_used_concurrently_is_accepted_once(
    client, internal, user
) -> None:
    _, codes = await enrol(client, internal, user.id)
    results = await asyncio.gather(*(_consume(client, internal, user.id, codes[3])
                                     for _ in range(8)))
    assert sorted(r["valid"] for r in results) == [False] * 7 + [True]
    assert {r["remaining"] for r in results} == {9}


async def test_a_code_of_another_user_is_refused(client, internal, make_user) -> None:
    alice, bob = await make_user(), await make_user()
    alice_secret, alice_codes = await enrol(client, internal, alice.id)
    bob_secret, _ = await enrol(client, internal, bob.id)
    assert await _consume(client, internal, bob.id, alice_codes[0]) == {"valid": False,
                                                                       "remaining": 10}
    if totp.totp_code(alice_secret) != totp.totp_code(bob_secret):
        assert (await _verify(client, internal, bob.id,
                              totp.totp_code(alice_secret))).json()["valid"] is False


async def test_regenerating_kills_the_old_set(client, internal, user, problem) -> None:
    _, old = await enrol(client, internal, user.id)
    assert (await _consume(client, internal, user.id, old[0]))["valid"] is True
    regenerated = await client.post(f"/internal/users/{user.id}/mfa/recovery-codes",
                                    headers=internal)
    assert regenerated.status_code == 200
    new = regenerated.json()["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert all(CODE_SHAPE.fullmatch(code) for code in new)
    assert await _consume(client, internal, user.id, old[1]) == {"valid": False, "remaining": 10}
    assert await _consume(client, internal, user.id, new[0]) == {"valid": True, "remaining": 9}


async def test_delete_turns_mfa_off_and_forgets_everything(
    client, internal, user, postgres, problem
) -> None:
    secret, codes = await enrol(client, internal, user.id)
    deleted = await client.delete(f"/internal/users/{user.id}/mfa", headers=internal)
    assert deleted.status_code == 204
    assert await _mfa_enabled(client, internal, user) is False
    with psycopg.connect(postgres.dsn) as conn:
        for table in ("user_totp_secrets", "user_recovery_codes"):
            count = conn.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s",  # noqa: S608
                                 (user.id,)).fetchone()
            assert count == (0,), table
    problem(await _verify(client, internal, user.id, totp.totp_code(secret)),
            409, "mfa_not_enabled")
    assert (await _consume(client, internal, user.id, codes[0]))["valid"] is False
    again = await client.delete(f"/internal/users/{user.id}/mfa", headers=internal)
    assert again.status_code == 204  # idempotent
    # A pending enrolment is dropped too, and a new one can start from scratch.
    await _start(client, internal, user.id)
    assert (await client.delete(f"/internal/users/{user.id}/mfa",
                                headers=internal)).status_code == 204
    assert _secret_rows(postgres.dsn) == {}
    new_secret, _ = await enrol(client, internal, user.id)
    assert new_secret != secret


async def test_secret_is_unreadable_in_the_database(
    client, internal, make_user, postgres, settings, problem
) -> None:
    alice, bob = await make_user(), await make_user()
    alice_secret, _ = await enrol(client, internal, alice.id)
    await enrol(client, internal, bob.id)
    rows = _secret_rows(postgres.dsn)
    key_id, nonce, ciphertext = rows[alice.id]
    assert key_id == settings.mfa_key_ring().primary_key_id
    assert len(nonce) == 12
    raw = totp.secret_from_base32(alice_secret)
    assert len(ciphertext) == len(raw) + 16  # the GCM tag, nothing else beside it
    for shown in (alice_secret, alice_secret.lower()):
        assert shown.encode() not in ciphertext
    assert raw not in ciphertext
    assert rows[alice.id][2] != rows[bob.id][2]
    # Alice's sealed secret copied onto Bob's row does not decrypt for Bob.
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("UPDATE user_totp_secrets SET key_id = %s, nonce = %s, ciphertext = %s "
                     "WHERE user_id = %s", (key_id, nonce, ciphertext, bob.id))
    problem(await _verify(client, internal, bob.id, totp.totp_code(alice_secret)),
            500, "mfa_secret_unreadable")
    with pytest.raises(UnreadableSecret):
        settings.mfa_key_ring().open(SealedSecret(key_id, nonce, ciphertext),
                                     user_id=uuid.UUID(bob.id))
    # ... while it still opens for Alice: only the binding to the user failed.
    assert settings.mfa_key_ring().open(SealedSecret(key_id, nonce, ciphertext),
                                        user_id=uuid.UUID(alice.id)) == raw


def _with_keys(settings: Settings, ring: str) -> Settings:
    return settings.model_copy(update={"MFA_ENCRYPTION_KEYS": SecretStr(ring)})


@contextlib.asynccontextmanager
async def _serving(make_app, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = make_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(application)
        async with httpx.AsyncClient(transport=transport, base_url="http://user-service") as c:
            yield c


async def test_key_rotation_reencrypts_every_row(
    make_app, settings, internal, make_user, postgres, migrated, problem
) -> None:
    users = [await make_user() for _ in range(3)]
    secrets: dict[str, str] = {}
    async with _serving(make_app, _with_keys(settings, KEY_A)) as under_a:
        for user in users:
            secrets[user.id], _ = await enrol(under_a, internal, user.id)
    assert {row[0] for row in _secret_rows(postgres.dsn).values()} == {"A"}

    # B is added in front: new secrets are sealed under B, the old ones still open with A.
    rotating = _with_keys(settings, f"{KEY_B},{KEY_A}")
    async with _serving(make_app, rotating) as under_ba:
        for user in users:
            assert (await _verify(under_ba, internal, user.id,
                                  totp.totp_code(secrets[user.id]))).json()["valid"] is True
    env = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": settings.DATABASE_URL,
           "MFA_ENCRYPTION_KEYS": f"{KEY_B},{KEY_A}", "LOG_LEVEL": "error"}
    ran = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "user_service.cli", "mfa-reencrypt"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "re-encrypted 3 TOTP secret(s) under key B"
    assert {row[0] for row in _secret_rows(postgres.dsn).values()} == {"B"}
    assert (await cli.mfa_reencrypt(rotating)).changed == 0  # nothing left to do

    # A can go now: everything opens with B alone, and nothing with A alone.
    async with _serving(make_app, _with_keys(settings, KEY_B)) as under_b:
        for user in users:
            assert (await _verify(under_b, internal, user.id,
                                  totp.totp_code(secrets[user.id]))).json()["valid"] is True
    async with _serving(make_app, _with_keys(settings, KEY_A)) as only_a:
        problem(await _verify(only_a, internal, users[0].id, "123456"),
                500, "mfa_secret_unreadable")


async def test_reencrypt_reports_rows_no_key_opens(
    make_app, settings, internal, make_user, postgres, migrated
) -> None:
    user = await make_user()
    async with _serving(make_app, _with_keys(settings, KeyRing.new_key_entry("lost"))) as lost:
        await enrol(lost, internal, user.id)
    result = await cli.mfa_reencrypt(_with_keys(settings, f"{KEY_B},{KEY_A}"))
    assert (result.changed, result.unreadable) == (0, 1)
    assert _secret_rows(postgres.dsn)[user.id][0] == "lost"  # left as it was


async def test_mfa_answers_503_without_keys(make_app, settings, internal, user, problem) -> None:
    async with _serving(make_app, _with_keys(settings, "")) as keyless:
        problem(await keyless.post(f"/internal/users/{user.id}/mfa/totp", headers=internal),
                503, "mfa_unavailable")
