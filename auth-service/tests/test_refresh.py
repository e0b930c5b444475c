"""Refresh rotation, grace window, reuse detection, revocation (real Redis Cluster)."""

import asyncio
from typing import Any

from redis.crc import key_slot

from auth_service.tokens import RefreshToken


async def _refresh(auth: Any, token: str) -> Any:
    return await auth.client.post("/auth/refresh", json={"refresh_token": token})


async def test_retry_within_grace_returns_the_same_pair(auth: Any) -> None:
    first = await auth.login(await auth.register())
    a = await _refresh(auth, first["refresh_token"])
    b = await _refresh(auth, first["refresh_token"])
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()


async def test_concurrent_refreshes_rotate_exactly_once(auth: Any) -> None:
    first = await auth.login(await auth.register())
    responses = await asyncio.gather(
        *(_refresh(auth, first["refresh_token"]) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    # The family is still usable: the one successor rotates normally.
    successor = responses[0].json()["refresh_token"]
    nxt = await _refresh(auth, successor)
    assert nxt.status_code == 200
    assert nxt.json()["refresh_token"] not in (successor, first["refresh_token"])


async def test_reuse_after_grace_revokes_every_descendant(
    auth_app_factory: Any, problem: Any
) -> None:
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=0.2) as auth:
        t0 = (await auth.login(await auth.register()))["refresh_token"]
        t1 = (await _refresh(auth, t0)).json()["refresh_token"]
        t2 = (await _refresh(auth, t1)).json()["refresh_token"]
        await asyncio.sleep(0.4)
        problem(await _refresh(auth, t0), 401, "refresh_token_reused")
        # The thief's or the victim's newest token: both dead now.
        problem(await _refresh(auth, t2), 401, "refresh_token_reused")
        problem(await _refresh(auth, t1), 401, "refresh_token_reused")


async def test_other_families_survive_a_reuse(auth_app_factory: Any) -> None:
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=0.1) as auth:
        email = await auth.register()
        laptop = (await auth.login(email))["refresh_token"]
        phone = (await auth.login(email))["refresh_token"]
        await _refresh(auth, laptop)
        await asyncio.sleep(0.25)
        assert (await _refresh(auth, laptop)).status_code == 401
        assert (await _refresh(auth, phone)).status_code == 200


async def test_garbled_unknown_and_expired_tokens(auth: Any, problem: Any) -> None:
    tokens = await auth.login(await auth.register())
    user_id, sid, secret = tokens["refresh_token"].split(".")
    for bad in ["", "x", "a.b", "." * 40, tokens["access_token"], f"{user_id}.{sid}.{'A' * 43}",
                f"{user_id}.{'B' * 22}.{secret}", f"{'B' * 22}.{secret}", f"x.{sid}.{secret}",
                "ü" * 30, tokens["refresh_token"] + "A", f"{user_id}}}.{sid}.{secret}"]:
        response = await _refresh(auth, bad)
        if bad == "":
            problem(response, 422, "validation_error")
        else:
            problem(response, 401, "invalid_refresh_token")
    # Expiry is Redis's TTL: make this token's keys expire now.
    parsed = RefreshToken.parse(tokens["refresh_token"])
    assert parsed is not None
    token_key = f"rt:{{u:{user_id}}}:{sid}:t:{parsed.token_hash}"
    assert await auth.resources.redis.redis.execute(token_key, "PEXPIRE", token_key, 1) == 1
    await asyncio.sleep(0.05)
    problem(await _refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")


async def test_only_hashes_are_stored(auth: Any, redis_cluster: Any) -> None:
    tokens = await auth.login(await auth.register())
    user_id, _, secret = tokens["refresh_token"].split(".")
    admin = redis_cluster.cluster_client()  # the service's own ACL user may not list keys
    index = f"sess:{{u:{user_id}}}"  # every key of a user's sessions shares its slot
    keys = [k for k in admin.cluster_get_keys_in_slot(key_slot(index.encode()), 1000)
            if f"{{u:{user_id}}}" in k]
    # The index, the session's metadata and its one live token.
    assert sorted(k.split(":")[0] for k in keys) == ["rt", "sess", "sess"]
    for key in keys:
        assert secret not in key
        values = (list(admin.hgetall(key).values()) if admin.type(key) == "hash"
                  else admin.zrange(key, 0, -1))
        assert values
        assert all(secret not in value for value in values)
    admin.close()


async def test_disabled_user_cannot_refresh(auth: Any, sql: Any, problem: Any) -> None:
    email = await auth.register()
    tokens = await auth.login(email)
    await sql("UPDATE users SET is_active = false WHERE email = %s", email)
    problem(await _refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")
    await sql("UPDATE users SET is_active = true WHERE email = %s", email)
    # The family was revoked: re-enabling the account does not revive it.
    problem(await _refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")


async def test_deleted_user_cannot_refresh(auth: Any, sql: Any, problem: Any) -> None:
    email = await auth.register()
    tokens = await auth.login(email)
    await sql("DELETE FROM users WHERE email = %s", email)
    problem(await _refresh(auth, tokens["refresh_token"]), 401, "invalid_refresh_token")


async def test_role_change_reaches_the_next_access_token(auth: Any, sql: Any) -> None:
    email = await auth.register()
    tokens = await auth.login(email)
    await sql("UPDATE users SET role = 'admin' WHERE email = %s", email)
    pair = (await _refresh(auth, tokens["refresh_token"])).json()
    principal = await auth.resources.verifier.verify(pair["access_token"])
    assert principal.roles == ("admin",)


async def test_store_lets_exactly_one_of_many_rotations_win(auth: Any) -> None:
    from auth_service.session_store import NewSession
    from auth_service.tokens import TokenPair, new_refresh_token, new_session_id

    store = auth.resources.session_store
    user_id, sid = "00000000-0000-4000-8000-000000000001", new_session_id()
    raw = new_refresh_token(user_id, sid)
    assert await store.create(NewSession(user_id, sid, raw, "10.0.0.1", "test", ["pwd"])) == []
    token = RefreshToken.parse(raw)
    assert token is not None
    successors = [TokenPair(f"access-{i}", new_refresh_token(user_id, sid), 900)
                  for i in range(50)]
    results = await asyncio.gather(*(store.rotate(token, s) for s in successors))
    winners = [s for s, r in zip(successors, results, strict=True) if r.verdict == "rotated"]
    assert len(winners) == 1
    assert {r.pair for r in results if r.verdict == "replay"} == {winners[0]}
    await store.end(user_id, [sid], reason="test")
