"""The `gateway` entry point as deployed: settings from the environment, JSON access logs
carrying the correlation ID, own endpoints."""

import asyncio
import os
import sys
import time
from typing import Any

import httpx
import orjson
import pytest

from devstack.ports import free_port

from .conftest import RunningGateway, Stack


async def test_entry_point_logs_one_json_line_per_request(stack: Stack,
                                                          redis_cluster: Any) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "METRICS_PORT": str(free_port()),
           **redis_cluster.service_env("gateway"),
           "AUTH_SERVICE_URL": stack.auth.url, "USER_SERVICE_URL": stack.users.url,
           "JWKS_URL": f"{stack.auth.url}/.well-known/jwks.json", "ENVIRONMENT": "test",
           "RATE_LIMIT_KEY_PREFIX": f"rl:main{port}"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from gateway.main import run; run()", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if (await client.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gateway did not start"
                await asyncio.sleep(0.1)
            response = await client.post("/auth/login", json={},
                                         headers={"X-Request-ID": "log-me-1",
                                                  "X-Forwarded-For": "9.9.9.9"})
            assert response.status_code == 200
            assert "server" not in response.headers
            missing = await client.get("/missing", headers={"X-Request-ID": "log-me-2"})
            assert missing.status_code == 404
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 15)
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith(b"{")]
    assert len(lines) == len(output.splitlines())  # nothing but JSON on stdout
    access = [line for line in lines if line.get("event") == "request"]
    assert [(a["request_id"], a["path"], a["status"]) for a in access] == [
        ("log-me-1", "/auth/login", 200), ("log-me-2", "/missing", 404)]
    first = access[0]
    assert first["service"] == "gateway"
    assert first["method"] == "POST"
    assert first["client_ip"] == "127.0.0.1"  # never the forged X-Forwarded-For
    assert isinstance(first["duration_ms"], float)
    assert stack.auth.requests[0].header("x-request-id") == "log-me-1"


async def test_live_and_metrics(gw: RunningGateway) -> None:
    async with gw.client() as client:
        await client.get("/auth/login")
        live = await client.get("/health/live")
        wrong = await client.post("/health/live")
        metrics = await client.get(gw.metrics_url)
        public_metrics = await client.get("/metrics")  # an ordinary, rate-limited path now
    assert live.json() == {"status": "ok"}
    # Metrics are only on the private listener: the public port does not know /metrics.
    assert public_metrics.status_code == 404
    assert public_metrics.headers["content-type"] == "application/problem+json"
    assert public_metrics.json()["code"] == "not_found"
    assert metrics.status_code == 200
    assert live.headers["x-request-id"]
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'gateway_ratelimit_decisions_total{result="allowed",source="redis"} 1.0' \
        in metrics.text
    assert "gateway_ratelimit_fallback_active 0.0" in metrics.text
    assert 'gateway_requests_total{method="GET",route="/auth/login",status="' in metrics.text
    assert 'gateway_redis_circuit_state{state="closed"} 1.0' in metrics.text
    assert "gateway_upstream_duration_seconds_count" in metrics.text
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_ready_when_upstreams_and_redis_are(gw: RunningGateway) -> None:
    async with gw.client() as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "redis": "ok", "cluster_state": "ok", "slots": "16384/16384", "auth-service": "ok",
        "user-service": "ok", "jwks": "ok", "revocations": "current", "ratelimit": "redis"}


@pytest.mark.parametrize("overrides", [
    {"RATE_LIMIT_ROUTES": "/auth/login=5"},
    {"RATE_LIMIT_ROUTES": "/auth/login=0/60"},
    {"RATE_LIMIT_ROUTES": "/auth/login=5/60:sometimes"},
    {"RATE_LIMIT_ROUTES": "auth/login=5/60"},
    {"RATE_LIMIT_REQUESTS": 0},
    {"TRUSTED_PROXIES": "not-a-network"},
    {"REDIS_NODES": ""},
    {"USER_SERVICE_URL": "ftp://x"},
    {"RATE_LIMIT_KEY_PREFIX": "a{b}"},
])
def test_settings_fail_fast(stack: Stack, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic wraps the message
        stack.settings(**overrides)


def test_route_policies_parse_both_forms(stack: Stack) -> None:
    compact = stack.settings(RATE_LIMIT_ROUTES="/auth/login=5/60,/auth/register=3/30:closed")
    as_json = stack.settings(RATE_LIMIT_ROUTES=orjson.dumps({
        "/auth/login": "5/60",
        "/auth/register": {"limit": 3, "window": 30, "fail_mode": "closed"}}).decode())
    assert compact.route_policies == as_json.route_policies
    assert compact.route_policies["/auth/register"].fail_mode == "closed"
    assert compact.route_policies["/auth/login"].fail_mode == "open"


def test_configured_routes_merge_over_the_defaults(stack: Stack) -> None:
    shipped = stack.settings().route_policies
    assert {path: (p.limit, p.window) for path, p in shipped.items()} == {
        "/auth/login": (10, 60), "/auth/login/mfa": (10, 60), "/auth/register": (5, 60),
        "/auth/password/forgot": (5, 3600), "/auth/password/reset": (10, 3600),
        "/auth/verify-email": (10, 3600), "/auth/verify-email/request": (5, 3600),
        "/auth/verify-email/resend": (5, 3600), "/auth/email/change": (5, 3600),
        "/auth/email/change/confirm": (10, 3600), "/auth/password/change": (10, 3600),
        "/auth/reauthenticate": (10, 3600), "/auth/mfa/totp": (10, 3600),
        "/auth/mfa/totp/confirm": (10, 3600)}
    merged = stack.settings(RATE_LIMIT_ROUTES=orjson.dumps({
        "/auth/login": "3/60", "/auth/register": "default", "/restart-probe": "5/3600"}).decode()
    ).route_policies
    assert (merged["/auth/login"].limit, merged["/restart-probe"].window) == (3, 3600)
    assert "/auth/register" not in merged
    assert set(shipped) - {"/auth/register"} <= set(merged)
    assert stack.settings(RATE_LIMIT_DEFAULT_ROUTES=False).route_policies == {}
