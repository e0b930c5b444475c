"""PostgreSQL stopped under a running app: quick 503s, then recovery without a restart."""

import asyncio
import time
import uuid

import httpx
import pytest

from user_service import migrations

pytestmark = pytest.mark.fault


async def test_outage_gives_503_and_recovers(
    client: httpx.AsyncClient, postgres, user, admin, internal, problem
) -> None:
    # An acknowledged write before the outage must survive it.
    written = await client.patch("/users/me", json={"display_name": "before outage"},
                                 headers=user.auth)
    assert written.status_code == 200
    await asyncio.to_thread(postgres.stop)
    try:
        for method, path, kwargs in [
            ("GET", "/users/me", {"headers": user.auth}),
            ("GET", "/users", {"headers": admin.auth}),
            ("POST", "/internal/credentials",
             {"headers": internal, "json": {"email": user.email}}),
        ]:
            started = time.monotonic()
            response = await client.request(method, path, **kwargs)
            elapsed = time.monotonic() - started
            problem(response, 503, "database_unavailable")
            assert int(response.headers["retry-after"]) > 0
            # Bounded by the connect timeout (2 s here), not hanging until a client gives up.
            assert elapsed < 10, f"{path} took {elapsed:.1f}s"
        ready = await client.get("/health/ready")
        problem(ready, 503, "not_ready")
        assert (await client.get("/health/live")).status_code == 200
    finally:
        await asyncio.to_thread(postgres.start)

    deadline = time.monotonic() + 30
    while True:
        response = await client.get("/users/me", headers=user.auth)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "before outage"
    assert (await client.get("/health/ready")).status_code == 200
    after = await client.patch("/users/me", json={"display_name": "after"}, headers=user.auth)
    assert after.status_code == 200


async def test_starts_without_postgres(
    settings, signer, make_app, postgres_factory, problem
) -> None:
    """The lifespan does not wait for PostgreSQL: the app serves, readiness says not ready,
    and once the server is up the same app works."""
    server = postgres_factory()
    await asyncio.to_thread(server.stop)
    app = make_app(settings.model_copy(update={"DATABASE_URL": server.url}))
    token = {"Authorization": f"Bearer {signer.token(str(uuid.uuid4()))}"}
    started = time.monotonic()
    async with app.router.lifespan_context(app):
        assert time.monotonic() - started < 5
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.get("/health/live")).status_code == 200
            problem(await client.get("/health/ready"), 503, "not_ready")
            problem(await client.get("/users/me", headers=token), 503, "database_unavailable")
            await asyncio.to_thread(server.start)
            await asyncio.to_thread(migrations.upgrade, server.url)
            assert (await client.get("/health/ready")).status_code == 200
            # Unknown user now: the database answered, so a 401 rather than a 503.
            problem(await client.get("/users/me", headers=token), 401, "invalid_token")
