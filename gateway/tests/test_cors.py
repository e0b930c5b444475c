"""CORS at the gateway: preflights answered at the edge, the CORS headers on proxied answers
and on the gateway's own errors, nothing at all when no origin is configured. The browser's
side of the contract is tested in tests/e2e/test_browser_cors.py."""

from typing import Any

import pytest
from pydantic import ValidationError

from .conftest import Stack, sign
from .window import DEFAULT_BUCKET_PATH

APP = "http://app.example"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, x-request-id"}


async def test_preflight_is_answered_at_the_edge_without_a_token(stack: Stack) -> None:
    gw = await stack.start(CORS_ALLOWED_ORIGINS=f"{APP},http://other.example",
                           RATE_LIMIT_REQUESTS=1)
    async with gw.client() as client:
        for _ in range(3):  # preflights are not counted by the rate limit (limit: 1)
            response = await client.options("/auth/login", headers=PREFLIGHT)
            assert response.status_code == 204
        protected = await client.options("/users/me", headers={
            **PREFLIGHT, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
    assert protected.status_code == 204  # no token needed to ask
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers
    assert stack.auth.requests == []
    assert stack.users.requests == []  # never forwarded


@pytest.mark.parametrize(("headers", "why"), [
    ({**PREFLIGHT, "Origin": "http://evil.example"}, "origin"),
    ({**PREFLIGHT, "Access-Control-Request-Method": "TRACE"}, "method"),
    ({**PREFLIGHT, "Access-Control-Request-Headers": "x-user-id"}, "header"),
])
async def test_preflight_refused_without_cors_headers(stack: Stack, headers: dict[str, str],
                                                      why: str) -> None:
    gw = await stack.start(CORS_ALLOWED_ORIGINS=APP)
    async with gw.client() as client:
        response = await client.options("/auth/login", headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "cors_not_allowed"
    assert why in response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers


async def test_answers_and_own_errors_carry_readable_headers(stack: Stack) -> None:
    gw = await stack.start(CORS_ALLOWED_ORIGINS=APP, RATE_LIMIT_REQUESTS=4,
                           MAX_BODY_BYTES=10)
    origin = {"Origin": APP}
    async with gw.client() as client:
        proxied = await client.post(DEFAULT_BUCKET_PATH, json={}, headers=origin)
        unauthorized = await client.get("/users/me", headers=origin)
        too_large = await client.post(DEFAULT_BUCKET_PATH, content=b"x" * 100, headers=origin)
        missing = await client.get("/nowhere", headers=origin)
        limited = await client.post(DEFAULT_BUCKET_PATH, json={}, headers=origin)
    assert [proxied.status_code, unauthorized.status_code, too_large.status_code,
            missing.status_code, limited.status_code] == [200, 401, 413, 404, 429]
    for response in (proxied, unauthorized, too_large, limited, missing):
        assert response.headers["access-control-allow-origin"] == APP
        assert "Origin" in response.headers.get_list("vary")
        exposed = response.headers["access-control-expose-headers"]
        for name in ("X-Request-ID", "RateLimit", "RateLimit-Policy", "Retry-After"):
            assert name in exposed
    assert "retry-after" in limited.headers


async def test_no_cors_headers_for_strangers_or_when_unconfigured(stack: Stack) -> None:
    configured = await stack.start(CORS_ALLOWED_ORIGINS=APP)
    plain = await stack.start()
    async with configured.client() as client:
        stranger = await client.get("/users/me", headers={"Origin": "http://evil.example",
                                                          "Authorization": f"Bearer {sign()}"})
    assert stranger.status_code == 200
    assert "access-control-allow-origin" not in stranger.headers
    assert stranger.headers.get_list("vary") == ["Origin"]
    async with plain.client() as client:
        answer = await client.get("/users/me", headers={"Origin": APP,
                                                        "Authorization": f"Bearer {sign()}"})
        preflight = await client.options("/auth/login", headers=PREFLIGHT)
    assert not [name for name in answer.headers if name.startswith("access-control-")]
    assert "vary" not in answer.headers
    assert preflight.status_code != 204  # forwarded as any OPTIONS, not answered as CORS
    assert not [name for name in preflight.headers if name.startswith("access-control-")]


async def test_credentials_flag_and_wildcard(stack: Stack) -> None:
    gw = await stack.start(CORS_ALLOWED_ORIGINS=APP, CORS_ALLOW_CREDENTIALS=True)
    async with gw.client() as client:
        response = await client.options("/auth/login", headers=PREFLIGHT)
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-origin"] == APP  # never * with credentials
    anyone = await stack.start(CORS_ALLOWED_ORIGINS="*")
    async with anyone.client() as client:
        response = await client.post("/auth/login", json={}, headers={"Origin": APP})
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("overrides", [
    {"CORS_ALLOWED_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": True},
    {"CORS_ALLOWED_ORIGINS": "http://app.example/"},
    {"CORS_ALLOWED_ORIGINS": "app.example"},
    {"CORS_ALLOWED_ORIGINS": "*,http://app.example"},
])
def test_cors_settings_fail_fast(stack: Stack, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        stack.settings(**overrides)
