"""Readiness gates on what the gateway cannot serve without (a JWKS) and reports the
cluster's own view, while Redis trouble alone never makes it unready (decision 0002);
the JWKS is refetched on a schedule, so a withdrawn key stops verifying."""

import asyncio

from .conftest import KID, PEM, Stack, public_jwk, rsa_pem, sign, wait_for


async def test_not_ready_until_a_first_jwks_has_loaded(stack: Stack) -> None:
    stack.auth.jwks_status = 503
    gw = await stack.start(wait_keys=False)
    async with gw.client() as client:
        await wait_for(lambda: stack.auth.jwks_fetches >= 1)
        refused = await client.get("/health/ready")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["checks"]["jwks"] == "missing"
        assert refused.json()["checks"]["auth-service"] == "ok"

        stack.auth.jwks_status = 200  # the scheduled retry (backoff) loads it
        for _ in range(200):
            ready = await client.get("/health/ready")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.05)
    assert ready.status_code == 200
    assert ready.json()["checks"]["jwks"] == "ok"


async def test_a_key_withdrawn_from_the_jwks_stops_verifying(stack: Stack) -> None:
    gw = await stack.start(JWKS_REFRESH_MIN_SECONDS=0.1, JWKS_REFRESH_MAX_SECONDS=0.2)
    old_token = sign()
    headers = {"Authorization": f"Bearer {old_token}"}
    async with gw.client() as client:
        assert (await client.get("/users/me", headers=headers)).status_code == 200

        new_pem = rsa_pem()
        stack.auth.jwks = {"keys": [public_jwk(new_pem, "key-2")]}  # key-1 withdrawn
        fetched = stack.auth.jwks_fetches
        await wait_for(lambda: stack.auth.jwks_fetches >= fetched + 2)  # no request needed

        withdrawn = await client.get("/users/me", headers=headers)
        assert withdrawn.status_code == 401
        assert withdrawn.json()["code"] == "invalid_token"
        rotated = {"Authorization": f"Bearer {sign(pem=new_pem, kid='key-2')}"}
        assert (await client.get("/users/me", headers=rotated)).status_code == 200


async def test_jwks_outage_keeps_the_last_good_keys(stack: Stack) -> None:
    gw = await stack.start(JWKS_REFRESH_MIN_SECONDS=0.1, JWKS_REFRESH_MAX_SECONDS=0.2)
    stack.auth.jwks_status = 503
    fetched = stack.auth.jwks_fetches
    await wait_for(lambda: stack.auth.jwks_fetches >= fetched + 2)
    async with gw.client() as client:
        token = {"Authorization": f"Bearer {sign(pem=PEM, kid=KID)}"}
        assert (await client.get("/users/me", headers=token)).status_code == 200
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["jwks"] == "ok"
