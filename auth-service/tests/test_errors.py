"""Bad input and failing dependencies: always problem+json 4xx/503, never 500, never a hang."""

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.mark.parametrize(("path", "content", "headers", "status", "code"), [
    ("/auth/login", b"{not json", {"content-type": "application/json"}, 400, "malformed_json"),
    ("/auth/register", b"[1,2]", {"content-type": "application/json"}, 422, "validation_error"),
    ("/auth/login", b'{"email": 1}', {"content-type": "application/json"}, 422,
     "validation_error"),
    ("/auth/login", b"hello", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    ("/auth/refresh", b'{"refresh_token": "a", "extra": 1}',
     {"content-type": "application/json"}, 422, "validation_error"),
    ("/auth/login", b"username=a", {"content-type": "application/x-www-form-urlencoded"}, 422,
     "validation_error"),
    # Control characters are refused here, not passed on for the user service to refuse
    # (which the auth service would have had to report as 503): found by Schemathesis.
    ("/auth/login", b'{"email": "a\\u0003@example.com", "password": "x"}',
     {"content-type": "application/json"}, 422, "validation_error"),
    ("/auth/login", b"username=a%01b&password=x",
     {"content-type": "application/x-www-form-urlencoded"}, 422, "validation_error"),
    ("/auth/register",
     b'{"email": "c@example.com", "password": "a long enough pass 9", "display_name": "\\u0010t"}',
     {"content-type": "application/json"}, 422, "validation_error"),
])
async def test_malformed_bodies(
    auth: Any, problem: Any, path: str, content: bytes, headers: dict[str, str], status: int,
    code: str,
) -> None:
    problem(await auth.client.post(path, content=content, headers=headers), status, code)


async def test_oversized_bodies(auth: Any, problem: Any) -> None:
    big = {"email": "a@example.com", "password": "x" * 20_000}
    problem(await auth.client.post("/auth/login", json=big), 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b"x" * 1024

    problem(await auth.client.post("/auth/register", content=chunks(),
                                   headers={"content-type": "application/json"}),
            413, "payload_too_large")


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """A server that accepts connections and never answers (a hung user service)."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_user_service_down_or_hung_gives_503(
    auth_app_factory: Any, problem: Any, black_hole: str
) -> None:
    for url in (f"http://127.0.0.1:{_closed_port()}", black_hole):
        async with auth_app_factory(users_transport=None, USER_SERVICE_URL=url,
                                    USER_SERVICE_TIMEOUT_SECONDS=0.5) as auth:
            body = {"email": auth.new_email(), "password": auth.password}
            for path in ("/auth/login", "/auth/register"):
                # Bounded: the call gives up on its own well before this guard.
                response = await asyncio.wait_for(auth.client.post(path, json=body), 5)
                problem(response, 503, "upstream_unavailable")
                assert int(response.headers["retry-after"]) > 0
            ready = await asyncio.wait_for(auth.client.get("/health/ready"), 5)
            problem(ready, 503, "not_ready")


async def test_redis_down_gives_503(auth_app_factory: Any, problem: Any) -> None:
    # Retried within the request's wait budget (kept short here), then 503.
    async with auth_app_factory(REDIS_NODES=f"127.0.0.1:{_closed_port()}",
                                REDIS_SOCKET_TIMEOUT_MS=200, REDIS_WAIT_BUDGET_SECONDS=0.5) as auth:
        login = await auth.client.post("/auth/login",
                                       json={"email": auth.new_email(), "password": "x" * 12})
        problem(login, 503, "state_store_unavailable")
        assert login.headers["retry-after"]
        refresh = await auth.client.post("/auth/refresh",
                                         json={"refresh_token": f"{'A' * 22}.{'B' * 43}"})
        problem(refresh, 503, "state_store_unavailable")


async def test_not_ready_while_redis_is_unreachable(auth_app_factory: Any, problem: Any) -> None:
    # Unlike the gateway (decision 0002), the auth service has no fallback: without Redis it
    # cannot throttle, log anyone in or rotate a refresh token, so it is not ready.
    nodes = ",".join(f"127.0.0.1:{_closed_port()}" for _ in range(3))
    async with auth_app_factory(REDIS_NODES=nodes, REDIS_SOCKET_TIMEOUT_MS=200) as auth:
        ready = await asyncio.wait_for(auth.client.get("/health/ready"), 5)  # a hang guard
        problem(ready, 503, "not_ready")
        assert ready.headers["retry-after"] == "5"
        # No seed node answers, so no slot map: the cluster client's own error, by name.
        assert ready.json()["checks"] == {"redis": "ClusterUnavailable", "user_service": "ok"}
        # The JWKS needs no Redis: verifiers keep loading keys and verifying issued tokens.
        jwks = await auth.client.get("/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert jwks.json()["keys"]
