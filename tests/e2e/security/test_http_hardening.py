"""HTTP-level attacks on the gateway over raw sockets (no client library to tidy them up):
oversized parts, request smuggling, hop-by-hop abuse, path-normalisation bypasses, forged
forwarding headers. Each is refused, and the upstreams' logs show they never saw it."""

import asyncio
import re
import uuid
from urllib.parse import urlsplit

import pytest


async def _raw(url: str, data: bytes, ip: str) -> bytes:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port,
                                                   local_addr=(ip, 0))
    try:
        writer.write(data)
        await writer.drain()
        chunks = []
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=10)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return b"".join(chunks) if "chunks" in locals() else b""


def _statuses(reply: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]


def _upstream_saw(stack, marker: str) -> list[str]:
    return [name for name in ("auth-service", "user-service")
            if stack.log_lines(name, marker)]


def _marker() -> str:
    return f"attack{uuid.uuid4().hex[:16]}"


def _request(method: str, target: str, marker: str, headers: str = "", body: bytes = b"") -> bytes:
    head = (f"{method} {target} HTTP/1.1\r\nHost: gw\r\nX-Request-ID: {marker}\r\n"
            f"Connection: close\r\n{headers}\r\n")
    return head.encode("latin-1") + body


SMUGGLING = {
    "CL + TE": ("POST", "/auth/login",
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                b"0\r\n\r\nGET /internal/users HTTP/1.1\r\nHost: x\r\n\r\n"),
    "duplicate Content-Length": ("POST", "/auth/login",
                                 "Content-Length: 2\r\nContent-Length: 40\r\n", b"{}"),
    "Content-Length list": ("POST", "/auth/login", "Content-Length: 2, 2\r\n", b"{}"),
    "TE obfuscated": ("POST", "/auth/login", "Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"),
    "TE with space before colon": ("POST", "/auth/login",
                                   "Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"),
    "negative Content-Length": ("POST", "/auth/login", "Content-Length: -1\r\n", b""),
}

PATHS = [
    "/internal/users", "/INTERNAL/users", "/Internal/users/by-email",
    "/users/../internal/users", "/users/%2e%2e/internal/users", "/users/%2E%2E/internal/users",
    "/users/..%2finternal/users", "/users/me/..%2f..%2finternal/users", "/%2e%2e/internal",
    "/./internal/users", "//internal/users", "/users//../internal/users",
    "/users\\..\\internal\\users", "/users/%5c..%5cinternal", "/users/me%00/../internal",
    "/auth/login/../../internal/users", "/auth/%2e%2e/internal/users", "/auth/refresh/..",
    "/%75sers/me", "/users/%252e%252e/internal", "/auth/keys", "/auth/../auth/../internal",
    "/docs", "/openapi.json", "/users;/../internal/users",
]


async def test_request_smuggling_is_refused_and_never_forwarded(sec_stack, fresh_ip) -> None:
    outcomes = {}
    for name, (method, target, headers, body) in SMUGGLING.items():
        marker = _marker()
        reply = await _raw(sec_stack.gateway_url, _request(method, target, marker, headers, body),
                           fresh_ip())
        outcomes[name] = (_statuses(reply), _upstream_saw(sec_stack, marker))
    print(f"\nsmuggling attempts -> {outcomes}")
    for name, (statuses, seen_by) in outcomes.items():
        assert statuses == [400], (name, statuses)  # one answer: nothing smuggled behind it
        assert seen_by == [], name


@pytest.mark.parametrize("path", PATHS)
async def test_path_bypasses_never_reach_an_upstream(sec_stack, fresh_ip, path) -> None:
    marker = _marker()
    reply = await _raw(sec_stack.gateway_url, _request("GET", path, marker), fresh_ip())
    statuses = _statuses(reply)
    print(f"\nGET {path} -> {statuses}")
    assert statuses in ([400], [404]), reply[:300]
    assert _upstream_saw(sec_stack, marker) == []


async def test_oversized_parts_are_refused_before_the_upstream(sec_stack, fresh_ip) -> None:
    cases = {
        "body 2 MiB (Content-Length)": ("POST", "/auth/register",
                                        f"Content-Length: {2 * 2**20}\r\n"
                                        "Content-Type: application/json\r\n",
                                        b"x" * (2 * 2**20), 413),
        "body 2 MiB (chunked)": ("POST", "/auth/register",
                                 "Transfer-Encoding: chunked\r\n"
                                 "Content-Type: application/json\r\n",
                                 b"".join(b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
                                          for _ in range(32)) + b"0\r\n\r\n", 413),
        "headers 40 kB": ("GET", "/users/me", "X-Big: " + "a" * 40_000 + "\r\n", b"", 431),
        "URL 10 kB": ("GET", "/users/me?q=" + "a" * 10_000, "", b"", 414),
    }
    outcomes = {}
    for name, (method, target, headers, body, _) in cases.items():
        marker = _marker()
        reply = await _raw(sec_stack.gateway_url, _request(method, target, marker, headers, body),
                           fresh_ip())
        outcomes[name] = (_statuses(reply), _upstream_saw(sec_stack, marker))
    print(f"\noversized requests -> {outcomes}")
    for name, (_, _, _, _, expected) in cases.items():
        statuses, seen_by = outcomes[name]
        assert statuses == [expected], (name, statuses)
        assert seen_by == [], name


async def test_forged_forwarding_and_identity_headers_are_ignored(sec_stack, client_for,
                                                                  fresh_ip, user) -> None:
    ip = fresh_ip()
    client = client_for(address=ip)
    marker = _marker()
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8",
              "Forwarded": "for=203.0.113.9", "True-Client-IP": "203.0.113.10",
              "X-User-Id": str(uuid.uuid4()), "X-Roles": "admin", "X-Internal-Token": "guess",
              "Connection": "close, X-Hop", "X-Hop": "hop", "X-Request-ID": marker}
    anonymous = await client.get("/users/me", headers=forged)
    admin_only = await client.get("/users", headers={
        **forged, "Authorization": f"Bearer {user['tokens']['access_token']}"})
    login = await client.post("/auth/login", headers=forged,
                              json={"email": user["email"], "password": "wrong password 1"})
    upstream_lines = [line for name in ("auth-service", "user-service")
                      for line in sec_stack.log_lines(name, marker)]
    gateway_ips = {line.get("client_ip") for line in sec_stack.log_lines("gateway", marker)
                   if line.get("event") == "request"}
    leaked = [line for line in upstream_lines if "203.0.113." in repr(line)]
    print(f"\nforged identity/forwarding headers: anonymous /users/me -> "
          f"{anonymous.status_code}, user on admin /users -> {admin_only.status_code}, "
          f"gateway resolved client_ip {gateway_ips}, forged addresses in upstream logs: "
          f"{len(leaked)}")
    assert anonymous.status_code == 401
    assert admin_only.status_code == 403
    assert login.status_code == 401
    assert gateway_ips == {ip}  # the socket peer, not a forged address
    assert upstream_lines  # the requests did reach the upstreams...
    assert leaked == []  # ...without the forged addresses
