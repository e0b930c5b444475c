"""End-to-end flows against the real user service, PostgreSQL and Redis Cluster."""

import asyncio
from typing import Any

import httpx
from jose import jwt

from shared import JwtVerifier, StaticKeySet


async def test_register_login_refresh_logout(auth: Any, problem: Any) -> None:
    email = auth.new_email()
    response = await auth.client.post("/auth/register", json={
        "email": email.upper(), "password": auth.password, "display_name": " Ada "})
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["email"] == email  # normalised
    assert user["display_name"] == "Ada"
    assert user["role"] == "user"
    assert user["is_active"] is True
    assert "password_hash" not in user

    tokens = await auth.login(email)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["kid"] == auth.resources.keys.ring.current.kid

    jwks = (await auth.client.get("/.well-known/jwks.json")).json()
    verifier = JwtVerifier(StaticKeySet(jwks, frozenset({"RS256"})), issuer="authstack",
                           audience="authstack-api", algorithms=frozenset({"RS256"}))
    principal = await verifier.verify(tokens["access_token"])
    assert principal.subject == user["id"]
    assert principal.roles == ("user",)
    for claim in ("iss", "aud", "exp", "iat", "nbf", "jti"):
        assert claim in principal.claims

    refreshed = await auth.client.post("/auth/refresh",
                                       json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refresh_token"] != tokens["refresh_token"]
    assert (await verifier.verify(pair["access_token"])).subject == user["id"]

    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    out = await auth.client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]},
                                 headers=bearer)
    assert out.status_code == 204
    again = await auth.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    problem(again, 401, "invalid_refresh_token")


async def test_login_accepts_oauth2_form(auth: Any) -> None:
    email = await auth.register()
    response = await auth.client.post("/auth/login",
                                      data={"username": email, "password": auth.password})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


async def test_logout_requires_bearer(auth: Any, problem: Any) -> None:
    tokens = await auth.login(await auth.register())
    response = await auth.client.post("/auth/logout",
                                      json={"refresh_token": tokens["refresh_token"]})
    problem(response, 401, "missing_token")
    assert response.headers["www-authenticate"] == 'Bearer realm="authstack"'
    garbage = await auth.client.post("/auth/logout", json={"refresh_token": "x"},
                                     headers={"Authorization": "Bearer not.a.jwt"})
    problem(garbage, 401, "invalid_token")
    assert garbage.headers["www-authenticate"] == 'Bearer realm="authstack", error="invalid_token"'


async def test_logout_of_someone_elses_family_has_no_effect(auth: Any) -> None:
    victim = await auth.login(await auth.register())
    attacker = await auth.login(await auth.register())
    response = await auth.client.post(
        "/auth/logout", json={"refresh_token": victim["refresh_token"]},
        headers={"Authorization": f"Bearer {attacker['access_token']}"})
    assert response.status_code == 204
    still = await auth.client.post("/auth/refresh",
                                   json={"refresh_token": victim["refresh_token"]})
    assert still.status_code == 200


async def test_jwks_is_cacheable_and_public_only(auth: Any) -> None:
    response = await auth.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert keys
    assert all(k["use"] == "sig" and k["alg"] == "RS256" and k["kid"] for k in keys)
    assert all("d" not in k and "p" not in k for k in keys)


async def test_es256_signing(auth_app_factory: Any, tmp_path: Any) -> None:
    async with auth_app_factory(JWT_SIGNING_ALG="ES256", JWT_KEYS_DIR=tmp_path) as es:
        tokens = await es.login(await es.register())
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "ES256"
        jwks = (await es.client.get("/.well-known/jwks.json")).json()
        verifier = JwtVerifier(StaticKeySet(jwks, frozenset({"ES256"})), issuer="authstack",
                               audience="authstack-api", algorithms=frozenset({"ES256"}))
        assert (await verifier.verify(tokens["access_token"])).roles == ("user",)


async def test_outdated_hash_is_upgraded_on_login(
    auth_app_factory: Any, sql: Any
) -> None:
    async with auth_app_factory() as old:
        email = await old.register()
    async with auth_app_factory(ARGON2_MEMORY_COST_KIB=2048) as new:
        await new.login(email)
        await asyncio.sleep(0)
        [(stored,)] = await sql("SELECT password_hash FROM users WHERE email = %s", email)
        assert "m=2048" in stored
        await new.login(email)  # and the upgraded hash verifies


async def test_readiness(auth: Any) -> None:
    response = await auth.client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"redis": "ok", "user_service": "ok"}


class _Recording(httpx.AsyncBaseTransport):
    """Passes requests to the real user service and remembers their headers."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await self.inner.handle_async_request(request)


async def test_internal_calls_carry_token_and_request_id(
    auth_app_factory: Any, user_app: Any
) -> None:
    recording = _Recording(httpx.ASGITransport(user_app))
    async with auth_app_factory(users_transport=recording) as auth:
        response = await auth.client.post(
            "/auth/register", json={"email": auth.new_email(), "password": auth.password},
            headers={"X-Request-ID": "trace-me-123"})
        assert response.status_code == 201
        assert response.headers["x-request-id"] == "trace-me-123"
    sent = recording.headers[-1]
    assert sent["x-request-id"] == "trace-me-123"
    assert sent["x-internal-token"] == "test-internal-token-0123456789"


async def test_openapi_offers_password_flow_and_both_login_bodies(auth: Any) -> None:
    spec = (await auth.client.get("/openapi.json")).json()
    login = spec["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= login.keys()
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("flows", {}).get("password", {}).get("tokenUrl") == "/auth/login"
               for s in schemes.values())
    assert not any(path.startswith("/internal") for path in spec["paths"])


async def test_login_email_is_normalised_like_registration(auth: Any) -> None:
    email = await auth.register()
    response = await auth.client.post(
        "/auth/login", json={"email": f"  {email.upper()} ", "password": auth.password})
    assert response.status_code == 200, response.text
