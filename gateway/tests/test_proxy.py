"""Forwarding: what the upstream receives, what the client gets back, limits, failures."""

import orjson
import pytest

from .conftest import RunningGateway, Stack, get, raw_request, sign


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {sign()}"}


async def test_forwards_path_query_and_body_unchanged(gw: RunningGateway, stack: Stack) -> None:
    async with gw.client() as client:
        response = await client.post("/auth/login?a=1&b=%20x&a=2",
                                     content=b'{"email":"a@b.c"}',
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    [received] = stack.auth.requests
    assert received.raw_path == "/auth/login?a=1&b=%20x&a=2"
    assert received.body == b'{"email":"a@b.c"}'
    assert received.header("content-type") == "application/json"
    assert received.header("content-length") == "17"
    assert received.header("x-forwarded-for") == "127.0.0.1"
    assert received.header("x-forwarded-proto") == "http"
    assert received.header("x-request-id") == response.headers["x-request-id"]
    assert not stack.users.requests


async def test_users_route_forwards_authorization_unchanged(gw: RunningGateway,
                                                            stack: Stack) -> None:
    headers = bearer()
    async with gw.client() as client:
        response = await client.get("/users/me", headers=headers)
    assert response.status_code == 200
    assert stack.users.requests[0].header("authorization") == headers["Authorization"]


async def test_hop_by_hop_and_identity_headers_are_stripped_both_ways(
        gw: RunningGateway, stack: Stack) -> None:
    sent = {
        "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1", "Keep-Alive": "timeout=9",
        "TE": "trailers", "Upgrade": "h2c", "Proxy-Authorization": "Basic eA==",
        "Proxy-Connection": "keep-alive", "Trailer": "X-T",
        "X-User-Id": "admin", "X-User-Roles": "admin", "X-Authenticated-User": "root",
        "X-Internal-Token": "steal", "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil",
        "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6", "X-Kept-Header": "kept",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE",
    }
    async with gw.client() as client:
        response = await client.get("/users/hop", headers={**sent, **bearer()})
    assert response.status_code == 200
    [received] = stack.users.requests
    for name in ("x-drop-me", "keep-alive", "te", "upgrade", "proxy-authorization",
                 "proxy-connection", "trailer", "x-user-id", "x-user-roles",
                 "x-authenticated-user", "x-internal-token", "x-forwarded-host", "x-real-ip",
                 "forwarded"):
        assert not received.has(name), name
    assert received.header("connection") != "keep-alive, X-Drop-Me"
    assert received.header("x-forwarded-for") == "127.0.0.1"
    assert received.header("x-kept-header") == "kept"
    assert received.header("traceparent") == sent["traceparent"]
    assert received.header("tracestate") == sent["tracestate"]
    # Response side: the upstream's hop-by-hop headers never reach the client.
    for name in ("x-secret", "keep-alive", "proxy-authenticate", "upgrade", "trailer"):
        assert name not in response.headers, name
    assert response.headers["x-kept"] == "k"
    assert response.headers.get_list("x-request-id") == [received.header("x-request-id")]


async def test_correlation_id_accepted_when_safe_else_minted(gw: RunningGateway,
                                                             stack: Stack) -> None:
    async with gw.client() as client:
        good = await client.get("/auth/login", headers={"X-Request-ID": "abc.DEF-123_x"})
        bad = await client.get("/auth/login", headers={"X-Request-ID": "no spaces<script>"})
        missing = await client.get("/nowhere", headers={"X-Request-ID": "trace-404"})
    assert good.headers["x-request-id"] == "abc.DEF-123_x"
    assert bad.headers["x-request-id"] != "no spaces<script>"
    assert len(bad.headers["x-request-id"]) == 32
    assert [r.header("x-request-id") for r in stack.auth.requests] == [
        "abc.DEF-123_x", bad.headers["x-request-id"]]
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-404"
    assert missing.json()["request_id"] == "trace-404"


async def test_body_limit_with_content_length_is_refused_up_front(stack: Stack) -> None:
    gw = await stack.start(MAX_BODY_BYTES=1000)
    async with gw.client() as client:
        ok = await client.post("/auth/register", content=b"x" * 1000)
        big = await client.post("/auth/register", content=b"x" * 1001)
    assert ok.status_code == 200
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"
    assert big.json()["code"] == "payload_too_large"
    assert len(stack.auth.requests) == 1


def chunked(total: int, size: int = 100) -> bytes:
    head = (b"POST /auth/register HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n")
    chunk = f"{size:x}\r\n".encode() + b"y" * size + b"\r\n"
    return head + chunk * (total // size) + b"0\r\n\r\n"


async def test_chunked_body_limit_is_enforced_while_streaming(stack: Stack) -> None:
    gw = await stack.start(MAX_BODY_BYTES=1000)
    small, _, _ = await raw_request(gw.port, chunked(500))
    big, headers, body = await raw_request(gw.port, chunked(5000))
    assert small == 200
    assert big == 413
    assert orjson.loads(body)["code"] == "payload_too_large"
    assert headers["content-type"] == "application/problem+json"
    [received] = stack.auth.requests
    assert received.body == b"y" * 500
    assert received.header("content-length") == "500"
    assert not received.has("transfer-encoding")


async def test_upstream_down_is_502_problem(stack: Stack) -> None:
    gw = await stack.start(AUTH_SERVICE_URL="http://127.0.0.1:9")
    async with gw.client() as client:
        response = await client.post("/auth/login", json={})
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "upstream_unavailable"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "ratelimit" in response.headers


async def test_upstream_slow_is_504_problem(stack: Stack) -> None:
    gw = await stack.start(UPSTREAM_READ_TIMEOUT_SECONDS=0.3)
    stack.auth.delay = 2
    async with gw.client() as client:
        response = await client.post("/auth/login", json={})
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"


async def test_upstream_503_passes_through_with_retry_after(gw: RunningGateway) -> None:
    async with gw.client() as client:
        response = await client.get("/users/unavailable", headers=bearer())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"code": "down"}


@pytest.mark.parametrize("extra", [
    ["Content-Length: 5", "Transfer-Encoding: chunked"],
    ["Content-Length: 5", "Content-Length: 6"],
    ["Transfer-Encoding: gzip"],
    ["X-Bad: a\rb"],
    ["X-Bad : spaced"],
])
async def test_ambiguous_framing_is_refused_and_not_forwarded(
        gw: RunningGateway, stack: Stack, extra: list[str]) -> None:
    lines = ["POST /auth/login HTTP/1.1", "Host: gw", *extra, "Connection: close", "", "hello"]
    status, _, _ = await raw_request(gw.port, "\r\n".join(lines).encode("latin-1"))
    assert status == 400
    assert not stack.auth.requests


async def test_oversized_url_and_headers(gw: RunningGateway, stack: Stack) -> None:
    status, headers, body = await raw_request(gw.port, get("/auth/" + "a" * 9000))
    assert status == 414
    assert orjson.loads(body)["code"] == "uri_too_long"
    assert "x-request-id" in headers
    status, _, body = await raw_request(gw.port, get("/auth/login", "X-Big: " + "b" * 40000))
    assert status == 431
    assert orjson.loads(body)["code"] == "headers_too_large"
    assert not stack.auth.requests
