"""Revocations in the user service: as a verifier it refuses a revoked session's or
user's tokens (its own feed on the session cluster), and as a publisher it appends a
`kind=user` entry on an admin disable, role change and delete, so the old tokens stop
working (here and at every gateway) while a token minted after the answer works."""

import time
import uuid
from typing import Any

import httpx

from devstack.testkit.traffic import poll
from shared.redis import (
    REVOCATION_STREAM,
    Credentials,
    RedisClusterClient,
    Revocation,
    append_revocation,
    parse_nodes,
)


def _client(cluster: Any) -> RedisClusterClient:
    return RedisClusterClient(parse_nodes(cluster.nodes), timeout=2.0,
                              credentials=Credentials(cluster.admin.username,
                                                      cluster.admin.password))


async def _code(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json().get("code", "")


def _refused(client: httpx.AsyncClient, token: str) -> Any:
    async def check() -> bool:
        return await _code(client, token) == (401, "token_revoked")
    return check


async def test_a_revoked_session_is_refused(client: httpx.AsyncClient, signer: Any, user: Any,
                                            redis_cluster: Any) -> None:
    sid = uuid.uuid4().hex
    token = signer.token(user.id, sid=sid)
    assert (await _code(client, token))[0] == 200
    redis = _client(redis_cluster)
    try:
        await append_revocation(redis, Revocation(kind="session", id=sid,
                                                  exp=int(time.time()) + 900),
                                retention_seconds=900, replica_ack_ms=1000)
    finally:
        await redis.aclose()
    await poll(_refused(client, token), 10, "the revoked session's token to be refused")
    assert (await _code(client, signer.token(user.id, sid=uuid.uuid4().hex)))[0] == 200


async def _user_entries(cluster: Any, user_id: str) -> list[dict[str, str]]:
    redis = _client(cluster)
    try:
        reply = await redis.execute(REVOCATION_STREAM, b"XREVRANGE", REVOCATION_STREAM,
                                    b"+", b"-", b"COUNT", b"200")
    finally:
        await redis.aclose()
    assert isinstance(reply, list)
    entries = []
    for _id, flat in reply:
        values = [v.decode() for v in flat]
        fields = dict(zip(values[::2], values[1::2], strict=True))
        if fields.get("kind") == "user" and fields.get("id") == user_id:
            entries.append(fields)
    return entries


async def test_a_role_change_revokes_the_users_tokens(client: httpx.AsyncClient, signer: Any,
                                                      admin: Any, make_user: Any,
                                                      redis_cluster: Any) -> None:
    promoted = await make_user(role="user")
    old = signer.token(promoted.id, ["user"])
    before = int(time.time() * 1000)
    response = await client.patch(f"/users/{promoted.id}", json={"role": "admin"},
                                  headers=admin.auth)
    assert response.status_code == 200, response.text
    # The answer comes after the revocation's second: a token minted now is not covered.
    fresh = signer.token(promoted.id, ["admin"])
    [entry] = await _user_entries(redis_cluster, promoted.id)
    assert int(entry["before_ms"]) >= before
    assert int(time.time()) * 1000 > int(entry["before_ms"])
    await poll(_refused(client, old), 10, "the token from before the role change")
    assert (await _code(client, fresh))[0] == 200


async def test_disable_and_delete_publish(client: httpx.AsyncClient, signer: Any, admin: Any,
                                          make_user: Any, redis_cluster: Any) -> None:
    disabled, deleted = await make_user(), await make_user()
    assert (await client.patch(f"/users/{disabled.id}", json={"is_active": False},
                               headers=admin.auth)).status_code == 200
    assert (await client.delete(f"/users/{deleted.id}", headers=admin.auth)).status_code == 204
    assert len(await _user_entries(redis_cluster, disabled.id)) == 1
    assert len(await _user_entries(redis_cluster, deleted.id)) == 1
    # Repeated (as after a 503 revocation_unavailable): no row, but published again.
    again = await client.delete(f"/users/{deleted.id}", headers=admin.auth)
    assert again.status_code == 404
    assert len(await _user_entries(redis_cluster, deleted.id)) == 2
    # Deleting one's own account revokes its tokens too.
    leaving = await make_user()
    assert (await client.delete("/users/me", headers=leaving.auth)).status_code == 204
    assert len(await _user_entries(redis_cluster, leaving.id)) == 1
    # A display-name change revokes nothing.
    renamed = await make_user()
    assert (await client.patch(f"/users/{renamed.id}", json={"display_name": "New"},
                               headers=admin.auth)).status_code == 200
    assert await _user_entries(redis_cluster, renamed.id) == []
    assert (await _code(client, signer.token(renamed.id)))[0] == 200


async def test_readiness_reports_the_feed(client: httpx.AsyncClient) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["revocations"] == "ok"


