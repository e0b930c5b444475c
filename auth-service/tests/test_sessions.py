"""Sessions (real Redis Cluster, real user service): listing, ending (own, all, admin), the
per-user bound, expiry pruning, and the revocation published for every ended session."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from shared.redis import REVOCATION_STREAM, Revocation

UA = "Mozilla/5.0 (test) sessions"


@pytest.fixture
def admin_redis(redis_cluster: Any) -> Iterator[Any]:
    """Inspections as the cluster's admin user (the service's ACL user may not)."""
    client = redis_cluster.cluster_client()
    yield client
    client.close()


def revoked_sessions(admin_redis: Any) -> dict[str, Revocation]:
    """Session id -> its newest entry in the revocation log."""
    entries = admin_redis.xrange(REVOCATION_STREAM, "-", "+")
    found = {}
    for _, fields in entries:
        revocation = Revocation.from_fields(fields)
        if revocation.kind == "session":
            found[revocation.id] = revocation
    return found


async def sid_of(auth: Any, access_token: str) -> str:
    principal = await auth.resources.verifier.verify(access_token)
    sid: str = principal.claims["sid"]
    return sid


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def login(auth: Any, email: str, user_agent: str = UA) -> dict[str, Any]:
    response = await auth.client.post("/auth/login", headers={"User-Agent": user_agent},
                                      json={"email": email, "password": auth.password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(auth: Any, token: str) -> Any:
    return await auth.client.post("/auth/refresh", json={"refresh_token": token})


async def listing(auth: Any, tokens: dict[str, Any]) -> list[dict[str, Any]]:
    response = await auth.client.get("/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def small(auth_app_factory: Any) -> AsyncIterator[Any]:
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=60.0,
                                MAX_SESSIONS_PER_USER=3) as running:
        yield running


async def test_a_session_is_listed_with_its_metadata_and_sid(auth: Any) -> None:
    email = await auth.register()
    tokens = await login(auth, email)
    user_id, sid, _ = tokens["refresh_token"].split(".")
    principal = await auth.resources.verifier.verify(tokens["access_token"])
    assert principal.claims["sid"] == sid
    assert principal.claims["amr"] == ["pwd"]
    assert principal.subject == user_id
    [item] = await listing(auth, tokens)
    assert item["id"] == sid
    assert item["current"] is True
    assert item["ip"] == auth.ip
    assert item["user_agent"] == UA
    assert item["amr"] == ["pwd"]
    assert item["created_at"] <= item["last_used_at"]


async def test_refresh_carries_the_sid_and_updates_last_used(auth: Any,
                                                             admin_redis: Any) -> None:
    tokens = await login(auth, await auth.register())
    user_id, sid, _ = tokens["refresh_token"].split(".")
    # Backdate the session, so the rotation's own write of last_used is visible.
    admin_redis.hset(f"sess:{{u:{user_id}}}:{sid}", mapping={"last_used": 1000,
                                                             "created": 1000})
    response = await refresh(auth, tokens["refresh_token"])
    assert response.status_code == 200
    pair = response.json()
    assert await sid_of(auth, pair["access_token"]) == sid
    assert pair["refresh_token"].split(".")[:2] == [user_id, sid]
    [item] = await listing(auth, pair)
    assert item["created_at"].startswith("1970-01-01T00:16:40")
    assert not item["last_used_at"].startswith("1970")
    assert item["current"] is True


async def test_end_one_session_is_idempotent_and_published(
    auth: Any, admin_redis: Any, problem: Any
) -> None:
    email = await auth.register()
    laptop, phone = await login(auth, email), await login(auth, email)
    phone_sid = await sid_of(auth, phone["access_token"])
    for _ in range(2):  # the second time: already ended, still 204
        response = await auth.client.delete(f"/auth/sessions/{phone_sid}",
                                            headers=bearer(laptop))
        assert response.status_code == 204
    problem(await refresh(auth, phone["refresh_token"]), 401, "invalid_refresh_token")
    assert [i["id"] for i in await listing(auth, laptop)] == [
        await sid_of(auth, laptop["access_token"])]
    entry = revoked_sessions(admin_redis)[phone_sid]
    ttl = auth.resources.settings.ACCESS_TOKEN_TTL_SECONDS
    assert time.time() < entry.exp <= time.time() + ttl + 1
    assert (await refresh(auth, laptop["refresh_token"])).status_code == 200


async def test_another_users_session_is_never_ended(auth: Any, admin_redis: Any,
                                                     problem: Any) -> None:
    victim = await login(auth, await auth.register())
    attacker = await login(auth, await auth.register())
    victim_sid = await sid_of(auth, victim["access_token"])
    response = await auth.client.delete(f"/auth/sessions/{victim_sid}", headers=bearer(attacker))
    assert response.status_code == 204
    for malformed in ("not-a-session-id", "%7Bu%3Ax%7D", "A" * 23):
        problem(await auth.client.delete(f"/auth/sessions/{malformed}", headers=bearer(attacker)),
                422, "validation_error")
    assert victim_sid not in revoked_sessions(admin_redis)
    assert (await refresh(auth, victim["refresh_token"])).status_code == 200
    # Logout with the victim's refresh token: a no-op too.
    response = await auth.client.post("/auth/logout", headers=bearer(attacker),
                                      json={"refresh_token": victim["refresh_token"]})
    assert response.status_code == 204
    assert victim_sid not in revoked_sessions(admin_redis)


async def test_sign_out_everywhere_else_then_everywhere(auth: Any, admin_redis: Any,
                                                        problem: Any) -> None:
    email = await auth.register()
    sessions = [await login(auth, email) for _ in range(3)]
    current, others = sessions[0], sessions[1:]
    response = await auth.client.delete("/auth/sessions", headers=bearer(current))
    assert response.status_code == 204
    published = revoked_sessions(admin_redis)
    for other in others:
        assert await sid_of(auth, other["access_token"]) in published
        problem(await refresh(auth, other["refresh_token"]), 401, "invalid_refresh_token")
    current_sid = await sid_of(auth, current["access_token"])
    assert current_sid not in published
    assert [i["id"] for i in await listing(auth, current)] == [current_sid]
    response = await auth.client.delete("/auth/sessions", params={"include_current": "true"},
                                        headers=bearer(current))
    assert response.status_code == 204
    assert current_sid in revoked_sessions(admin_redis)
    problem(await refresh(auth, current["refresh_token"]), 401, "invalid_refresh_token")
    assert await listing(auth, current) == []


async def test_logout_and_reuse_publish_the_session(auth_app_factory: Any, admin_redis: Any,
                                                    problem: Any) -> None:
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=0.1) as auth:
        email = await auth.register()
        tokens = await login(auth, email)
        sid = await sid_of(auth, tokens["access_token"])
        response = await auth.client.post("/auth/logout", headers=bearer(tokens),
                                          json={"refresh_token": tokens["refresh_token"]})
        assert response.status_code == 204
        assert sid in revoked_sessions(admin_redis)

        stolen = await login(auth, email)
        stolen_sid = await sid_of(auth, stolen["access_token"])
        assert (await refresh(auth, stolen["refresh_token"])).status_code == 200
        await asyncio.sleep(0.3)
        problem(await refresh(auth, stolen["refresh_token"]), 401, "refresh_token_reused")
        assert stolen_sid in revoked_sessions(admin_redis)
        assert await listing(auth, await login(auth, email)) != []
        assert stolen_sid not in [i["id"] for i in await listing(auth, await login(auth, email))]


async def test_the_bound_ends_the_least_recently_used(small: Any, admin_redis: Any,
                                                      problem: Any) -> None:
    email = await small.register()
    first = await login(small, email)
    later = [await login(small, email) for _ in range(2)]
    assert len(await listing(small, first)) == 3
    newest = await login(small, email)  # the fourth: the first one ends
    first_sid = await sid_of(small, first["access_token"])
    assert first_sid in revoked_sessions(admin_redis)
    problem(await refresh(small, first["refresh_token"]), 401, "invalid_refresh_token")
    ids = {i["id"] for i in await listing(small, newest)}
    assert ids == {await sid_of(small, t["access_token"]) for t in [*later, newest]}


async def test_expired_sessions_are_pruned_and_not_listed(small: Any, admin_redis: Any) -> None:
    email = await small.register()
    old = await login(small, email)
    user_id, old_sid, _ = old["refresh_token"].split(".")
    index = f"sess:{{u:{user_id}}}"
    admin_redis.zadd(index, {old_sid: 1})  # as if its refresh token had expired
    current = await login(small, email)
    assert old_sid not in [i["id"] for i in await listing(small, current)]
    assert admin_redis.zscore(index, old_sid) is None  # the login pruned it
    assert admin_redis.ttl(index) > 0
    assert admin_redis.ttl(f"sess:{{u:{user_id}}}:{old_sid}") > 0


async def test_admin_lists_and_ends_a_users_sessions(auth: Any, sql: Any, admin_redis: Any,
                                                     problem: Any) -> None:
    admin_email = await auth.register()
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", admin_email)
    admin = await login(auth, admin_email)
    email = await auth.register()
    user = [await login(auth, email) for _ in range(3)]
    user_id = user[0]["refresh_token"].split(".")[0]
    base = f"/auth/admin/users/{user_id}/sessions"
    response = await auth.client.get(base, headers=bearer(admin))
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 3
    assert not any(i["current"] for i in items)
    one = await sid_of(auth, user[0]["access_token"])
    assert (await auth.client.delete(f"{base}/{one}", headers=bearer(admin))).status_code == 204
    assert one in revoked_sessions(admin_redis)
    assert len((await auth.client.get(base, headers=bearer(admin))).json()["items"]) == 2
    assert (await auth.client.delete(base, headers=bearer(admin))).status_code == 204
    assert (await auth.client.get(base, headers=bearer(admin))).json()["items"] == []
    for tokens in user:
        problem(await refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")
    # The admin's own session was not touched.
    assert (await refresh(auth, admin["refresh_token"])).status_code == 200


async def test_admin_routes_refuse_others_and_unknown_users(auth: Any, sql: Any,
                                                            problem: Any) -> None:
    email = await auth.register()
    user = await login(auth, email)
    user_id = user["refresh_token"].split(".")[0]
    base = f"/auth/admin/users/{user_id}/sessions"
    problem(await auth.client.get(base, headers=bearer(user)), 403, "forbidden")
    problem(await auth.client.delete(base, headers=bearer(user)), 403, "forbidden")
    problem(await auth.client.get(base), 401, "missing_token")
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", email)
    admin = await login(auth, email)
    problem(await auth.client.get("/auth/admin/users/00000000-0000-4000-8000-000000000000"
                                  "/sessions", headers=bearer(admin)), 404, "user_not_found")
    problem(await auth.client.get("/auth/admin/users/not-a-uuid/sessions",
                                  headers=bearer(admin)), 422, "validation_error")
    # Demoted: the token still says admin, the account no longer does.
    await sql("UPDATE users SET role = 'user' WHERE email = %s", email)
    problem(await auth.client.get(base, headers=bearer(admin)), 403, "forbidden")
    assert len(await listing(auth, user)) == 2


async def test_sessions_routes_need_a_token(auth: Any, problem: Any) -> None:
    problem(await auth.client.get("/auth/sessions"), 401, "missing_token")
    problem(await auth.client.delete("/auth/sessions"), 401, "missing_token")
    problem(await auth.client.delete("/auth/sessions/abc"), 401, "missing_token")


async def test_the_session_routes_are_documented(auth: Any) -> None:
    spec = (await auth.client.get("/openapi.json")).json()
    expected = {
        "/auth/sessions": {"get": "200", "delete": "204"},
        "/auth/sessions/{session_id}": {"delete": "204"},
        "/auth/admin/users/{user_id}/sessions": {"get": "200", "delete": "204"},
        "/auth/admin/users/{user_id}/sessions/{session_id}": {"delete": "204"},
    }
    for path, methods in expected.items():
        for method, success in methods.items():
            operation = spec["paths"][path][method]
            assert operation["security"], (path, method)
            assert operation["summary"], (path, method)
            assert operation["description"], (path, method)
            responses = operation["responses"]
            assert success in responses
            assert "application/problem+json" in responses["401"]["content"]
            if "/admin/" in path:
                assert {"403", "404"} <= set(responses)
    listing = spec["paths"]["/auth/sessions"]["get"]["responses"]["200"]["content"]
    schema = listing["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    item = spec["components"]["schemas"]["SessionPublic"]["properties"]
    assert schema == "SessionList"
    assert {"id", "created_at", "last_used_at", "ip", "user_agent", "current"} <= set(item)


async def test_concurrent_logins_keep_the_bound_exactly(small: Any, admin_redis: Any) -> None:
    email = await small.register()
    logins = await asyncio.gather(*(login(small, email) for _ in range(10)))
    sids = {await sid_of(small, t["access_token"]) for t in logins}
    live = {i["id"] for i in await listing(small, await login(small, email))}
    assert len(live) == 3  # the last login's own and two of the ten
    published = set(revoked_sessions(admin_redis))
    # Every one of the ten that is no longer live was ended by the bound, and published.
    assert sids - live <= published
    assert len(sids - live) == 8


async def test_a_disabled_users_session_ends_at_its_refresh(auth: Any, sql: Any,
                                                             admin_redis: Any,
                                                             problem: Any) -> None:
    email = await auth.register()
    tokens = await login(auth, email)
    await sql("UPDATE users SET is_active = false WHERE email = %s", email)
    problem(await refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")
    assert await sid_of(auth, tokens["access_token"]) in revoked_sessions(admin_redis)
