"""Limiter accuracy across two gateway processes: exactly N per window for one client IP,
and no false 429 for a thousand distinct client IPs.

The fault stack limits `/probe` (no upstream serves it) to 20 per 60 s: an allowed request is
the gateway's own 404, a refused one a 429."""

import asyncio
import re
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.testkit.traffic import fallback_decisions

pytestmark = pytest.mark.fault

STRICT_PATH, STRICT_LIMIT = "/probe", 20


async def _raw_status(url: str, ip: str) -> int:
    """One GET on its own connection from `ip` (cheaper than an httpx client per address:
    a thousand of those would cost more than the test)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port,
                                                   local_addr=(ip, 0))
    try:
        writer.write(f"GET {STRICT_PATH} HTTP/1.1\r\nHost: test\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    assert match, data[:200]
    return int(match.group(1))


@pytest.fixture(scope="module")
def second_gateway(fault_stack):
    """A second gateway process on the same cluster; stopped after this module."""
    url = fault_stack.add_gateway()
    yield url
    fault_stack.stop_service(f"gateway-{urlsplit(url).port}")


def _clients(urls: tuple[str, ...], ip: str) -> list[httpx.AsyncClient]:
    return [httpx.AsyncClient(base_url=url, timeout=30,
                              transport=httpx.AsyncHTTPTransport(local_address=ip),
                              limits=httpx.Limits(max_connections=50)) for url in urls]


async def _burst(urls: tuple[str, ...], ip: str, n: int) -> list[httpx.Response]:
    clients = _clients(urls, ip)
    try:
        return await asyncio.gather(*(clients[i % 2].get(STRICT_PATH) for i in range(n)))
    finally:
        for client in clients:
            await client.aclose()


async def test_one_ip_100_connections_two_gateways_exactly_n(fault_stack, second_gateway,
                                                             addresses) -> None:
    urls = (fault_stack.gateway_url, second_gateway)
    warm_ip, ip = addresses(2)
    # Steady state: both processes' Redis connection pools opened by an earlier burst.
    await _burst(urls, warm_ip, 100)
    metrics = (fault_stack.metrics_url(),
               fault_stack.metrics_url(f"gateway-{urlsplit(second_gateway).port}"))
    fallback_before = await fallback_decisions(*metrics)
    began = time.monotonic()
    responses = await _burst(urls, ip, 200)
    elapsed = time.monotonic() - began
    fallback = await fallback_decisions(*metrics) - fallback_before
    statuses = Counter(r.status_code for r in responses)
    allowed = 200 - statuses[429]
    print(f"\n200 requests from one IP over 2x50 connections to 2 gateways in {elapsed:.2f}s: "
          f"{allowed} allowed (limit {STRICT_LIMIT}), statuses {dict(statuses)}, "
          f"decided by the fallback limiter: {fallback}")
    assert set(statuses) == {404, 429}, statuses
    assert allowed == STRICT_LIMIT, f"{fallback} decisions fell back (Redis budget overrun)"
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in responses
                 if r.status_code == 404]
    assert sorted(remaining) == list(range(STRICT_LIMIT)), remaining  # one count each


async def test_thousand_client_ips_no_false_429(fault_stack, second_gateway, addresses) -> None:
    ips = addresses(1000)
    urls = (fault_stack.gateway_url, second_gateway)
    limit = asyncio.Semaphore(100)

    async def client(i: int, ip: str) -> list[int]:
        async with limit:
            return [await _raw_status(urls[(i + k) % 2], ip) for k in range(3)]

    began = time.monotonic()
    results = await asyncio.gather(*(client(i, ip) for i, ip in enumerate(ips)))
    elapsed = time.monotonic() - began
    statuses = Counter(s for r in results for s in r)
    print(f"\n1000 client IPs x 3 requests over 2 gateways in {elapsed:.1f}s: {dict(statuses)}")
    assert all(len(r) == 3 for r in results)
    assert statuses == {404: 3000}
