"""Refresh tokens issued before sessions (`<family>.<secret>`, keys `rt:{family}:...`) keep
working: their first refresh moves the family into a session of the user (same id), and
everything else (replay, reuse, logout) still holds. The legacy state is written with the
legacy store's own script, as the previous release wrote it."""

import asyncio
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from auth_service.tokens import RefreshToken, new_session_id
from shared.redis import REVOCATION_STREAM


@pytest.fixture
def admin_redis(redis_cluster: Any) -> Iterator[Any]:
    client = redis_cluster.cluster_client()
    yield client
    client.close()


async def legacy_token(auth: Any, created: int = 1_700_000_000) -> tuple[str, str, str]:
    """(user id, family, legacy refresh token) of a new account's legacy family."""
    email = await auth.register()
    tokens = await auth.login(email)
    user_id = tokens["refresh_token"].split(".")[0]
    family = new_session_id()
    raw = f"{family}.{secrets.token_urlsafe(32)}"
    await auth.resources.refresh_tokens.create_family(family, raw, user_id, created)
    return user_id, family, raw


async def refresh(auth: Any, token: str) -> Any:
    return await auth.client.post("/auth/refresh", json={"refresh_token": token})


def published(admin_redis: Any, sid: str) -> bool:
    return any(fields.get("kind") == "session" and fields.get("id") == sid
               for _, fields in admin_redis.xrange(REVOCATION_STREAM, "-", "+"))


async def test_a_legacy_token_is_migrated_by_its_first_refresh(auth: Any) -> None:
    user_id, family, raw = await legacy_token(auth)
    response = await refresh(auth, raw)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["refresh_token"].split(".")[:2] == [user_id, family]
    principal = await auth.resources.verifier.verify(pair["access_token"])
    assert principal.claims["sid"] == family
    assert principal.subject == user_id
    # The migrated session is listed, with the family's own creation time.
    sessions = await auth.client.get("/auth/sessions",
                                     headers={"Authorization": f"Bearer {pair['access_token']}"})
    current = [i for i in sessions.json()["items"] if i["current"]]
    assert [i["id"] for i in current] == [family]
    assert current[0]["created_at"].startswith("2023-11-14T22:13:20")
    assert current[0]["ip"] == auth.ip
    # A retry of the legacy token in the grace window: the same pair; the new one rotates.
    assert (await refresh(auth, raw)).json() == pair
    nxt = await refresh(auth, pair["refresh_token"])
    assert nxt.status_code == 200
    assert nxt.json()["refresh_token"].split(".")[:2] == [user_id, family]


async def test_concurrent_migrations_hand_out_one_pair(auth: Any, admin_redis: Any) -> None:
    user_id, family, raw = await legacy_token(auth)
    responses = await asyncio.gather(*(refresh(auth, raw) for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["refresh_token"] for r in responses}) == 1
    # Only the handed-out token lives in the session; the losers' were dropped.
    winner = RefreshToken.parse(responses[0].json()["refresh_token"])
    assert winner is not None
    live = [k for k in admin_redis.scan_iter(match=f"rt:{{u:{user_id}}}:{family}:t:*")]
    assert live == [f"rt:{{u:{user_id}}}:{family}:t:{winner.token_hash}"]


async def test_legacy_reuse_after_migration_ends_the_session(auth_app_factory: Any,
                                                             admin_redis: Any,
                                                             problem: Any) -> None:
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=0.1) as auth:
        _, family, raw = await legacy_token(auth)
        pair = (await refresh(auth, raw)).json()
        await asyncio.sleep(0.3)
        problem(await refresh(auth, raw), 401, "refresh_token_reused")
        assert published(admin_redis, family)
        # The migrated session's newest token died with it.
        problem(await refresh(auth, pair["refresh_token"]), 401, "refresh_token_reused")


async def test_legacy_logout_still_ends_the_family(auth: Any, problem: Any) -> None:
    user_id, _, raw = await legacy_token(auth)
    bearer = {"Authorization": f"Bearer {(await refresh(auth, raw)).json()['access_token']}"}
    other = new_session_id()  # a second legacy family of the same user, never refreshed
    other_raw = f"{other}.{secrets.token_urlsafe(32)}"
    await auth.resources.refresh_tokens.create_family(other, other_raw, user_id,
                                                      int(time.time()))
    response = await auth.client.post("/auth/logout", headers=bearer,
                                      json={"refresh_token": other_raw})
    assert response.status_code == 204
    problem(await refresh(auth, other_raw), 401, "invalid_refresh_token")


async def test_a_disabled_users_legacy_token_is_refused(auth: Any, sql: Any,
                                                        problem: Any) -> None:
    user_id, _, raw = await legacy_token(auth)
    await sql("UPDATE users SET is_active = false WHERE id = %s", user_id)
    problem(await refresh(auth, raw), 401, "invalid_refresh_token")
    await sql("UPDATE users SET is_active = true WHERE id = %s", user_id)
    problem(await refresh(auth, raw), 401, "invalid_refresh_token")
