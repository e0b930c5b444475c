"""Bearer tokens on protected routes: forged ones never reach the upstream."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from jose import jwk

from .conftest import PEM, RunningGateway, Stack, claims, public_jwk, rsa_pem, sign, wait_for


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key() -> str:
    public_pem = jwk.construct(PEM.decode(), "RS256").public_key().to_pem()
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered() -> str:
    head, _, rest = sign().partition(".")
    _, _, signature = rest.partition(".")
    return f"{head}.{b64(json.dumps(claims(roles=['admin'])).encode())}.{signature}"


OTHER_PEM = rsa_pem()
FORGED = {
    "expired": (sign(claims(exp=int(time.time()) - 60, iat=int(time.time()) - 960)),
                "token_expired"),
    "not_yet_valid": (sign(claims(nbf=int(time.time()) + 600)), "invalid_token"),
    "wrong_issuer": (sign(claims(iss="someone-else")), "invalid_token"),
    "wrong_audience": (sign(claims(aud="other-api")), "invalid_token"),
    "alg_none": (unsigned({"alg": "none", "kid": "key-1"}, claims()), "invalid_token"),
    "hs256_confusion": (hs256_with_public_key(), "invalid_token"),
    "tampered_payload": (tampered(), "invalid_token"),
    "unknown_kid": (sign(pem=OTHER_PEM, kid="key-9"), "invalid_token"),
    "kid_path_trick": (sign(kid="../../../../dev/null"), "invalid_token"),
    "kid_sql_trick": (sign(kid="key-1' OR '1'='1"), "invalid_token"),
    "jku_injection": (sign(jku="http://evil.example/jwks.json"), "invalid_token"),
    "x5u_injection": (sign(x5u="http://evil.example/cert.pem"), "invalid_token"),
    "other_key_same_kid": (sign(pem=OTHER_PEM), "invalid_token"),
    "huge": ("a" * 9000, "invalid_token"),
    "garbage": ("not-a-jwt", "invalid_token"),
    "empty_parts": ("..", "invalid_token"),
}


async def test_valid_token_is_forwarded(gw: RunningGateway, stack: Stack) -> None:
    token = sign()
    async with gw.client() as client:
        first = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        cached = await client.get("/users/me", headers={"Authorization": f"bearer {token}"})
    assert first.status_code == cached.status_code == 200
    assert len(stack.users.requests) == 2
    assert gw.app.resources is not None
    assert gw.app.resources.authenticator is not None
    cache = gw.app.resources.authenticator.verifier.cache
    assert cache is not None
    assert (len(cache), cache.hits) == (1, 1)


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_forged_tokens_get_401_problem(gw: RunningGateway, stack: Stack,
                                             name: str) -> None:
    token, code = FORGED[name]
    async with gw.client() as client:
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="authstack", error="invalid_token"'
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert not stack.users.requests


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Token abc"])
async def test_missing_token(gw: RunningGateway, stack: Stack, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with gw.client() as client:
        response = await client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="authstack"'
    assert response.json()["code"] == "missing_token"
    assert not stack.users.requests


async def test_key_rotation_is_picked_up(gw: RunningGateway, stack: Stack) -> None:
    new_pem = rsa_pem()
    token = sign(pem=new_pem, kid="key-2")
    async with gw.client() as client:
        before = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert before.status_code == 401
        stack.auth.jwks = {"keys": [public_jwk(PEM, "key-1"), public_jwk(new_pem, "key-2")]}
        fetches = stack.auth.jwks_fetches
        await asyncio.sleep(0.25)  # past JWKS_MIN_REFETCH_SECONDS
        after = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        old = await client.get("/users/me", headers={"Authorization": f"Bearer {sign()}"})
    assert after.status_code == 200
    assert old.status_code == 200
    assert stack.auth.jwks_fetches == fetches + 1


async def test_unknown_kid_flood_refetches_at_most_once_per_interval(stack: Stack) -> None:
    gw = await stack.start(JWKS_MIN_REFETCH_SECONDS=60)
    fetches = stack.auth.jwks_fetches
    async with gw.client() as client:
        for i in range(10):
            token = sign(pem=OTHER_PEM, kid=f"forged-{i}")
            response = await client.get("/users/me",
                                        headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
    assert stack.auth.jwks_fetches - fetches <= 1


async def test_gateway_starts_before_auth_service_and_loads_keys_later(
        stack: Stack) -> None:
    stack.auth.jwks_status = 503
    gw = await stack.start(wait_keys=False)  # start-up is not blocked by a missing JWKS
    token = sign()
    async with gw.client() as client:
        early = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert early.status_code == 401
        stack.auth.jwks_status = 200
        await wait_for(lambda: gw.app.resources.authenticator.verifier.keys.get("key-1")
                       is not None)  # type: ignore[union-attr]
        late = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert late.status_code == 200


async def test_jwt_disabled_lets_requests_through(stack: Stack) -> None:
    gw = await stack.start(JWT_ENABLED=False)
    async with gw.client() as client:
        response = await client.get("/users/me")
    assert response.status_code == 200


def test_jwt_cannot_be_disabled_in_production(stack: Stack) -> None:
    with pytest.raises(ValueError, match="JWT_ENABLED"):
        stack.settings(JWT_ENABLED=False, ENVIRONMENT="production")
