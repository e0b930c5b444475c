"""The request-context middleware: who the client is, for logs and for the routes."""

import httpx
import pytest
from fastapi import FastAPI, Request

from shared import ClientIpResolver, parse_networks
from shared.web import Readiness, build_service_app


def _app(client_ips: ClientIpResolver | None) -> FastAPI:
    app = build_service_app(title="t", version="1", readiness=Readiness(), client_ips=client_ips)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"client_ip": request.state.client_ip}

    return app


async def _client_ip(app: FastAPI, peer: str, forwarded_for: str | None) -> str | None:
    transport = httpx.ASGITransport(app, client=(peer, 40000))
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/whoami", headers=headers)
    assert response.status_code == 200
    value: str | None = response.json()["client_ip"]
    return value


@pytest.mark.parametrize(("peer", "forwarded_for", "expected"), [
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),  # through the trusted gateway
    ("10.0.0.5", None, "10.0.0.5"),
    ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # an untrusted peer cannot choose
    ("10.0.0.5", "203.0.113.9, 10.0.0.6", "203.0.113.9"),  # trusted hops are skipped
])
async def test_the_client_behind_trusted_proxies(peer: str, forwarded_for: str | None,
                                                 expected: str) -> None:
    app = _app(ClientIpResolver(parse_networks("10.0.0.0/8")))
    assert await _client_ip(app, peer, forwarded_for) == expected


async def test_without_trusted_proxies_the_client_is_the_peer() -> None:
    assert await _client_ip(_app(None), "10.0.0.5", "203.0.113.9") == "10.0.0.5"
