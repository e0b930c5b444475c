"""Two gateway processes, one client, one exact limit (issue 19): requests from one client
address go alternately to two gateways, and the default bucket (30 per 60 s per client IP)
allows exactly 30 of them across both, then answers 429. Each gateway served allowed and
refused requests: neither saw 30 of them, so each counted in the shared bucket, not its own.

On compose the two are the `gateway-1` and `gateway-2` services behind the `lb` container
(nginx, round robin), which is what `gateway_url` reaches there: the gateways count the
client nginx names in X-Forwarded-For. Natively there is no balancer: the test alternates
itself between the stack's gateway and one more started with `add_gateway`."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.testkit.addresses import next_client_address

LIMIT = 30  # the default bucket, per client IP (test_ratelimit.py)
REQUESTS = 40


@pytest.fixture(scope="module")
def gateways(stack: Any) -> Iterator[tuple[list[str], list[str]]]:
    """(the URLs the client alternates over, the names of the gateways behind them, whose
    logs say which served what)."""
    balanced = list(getattr(stack, "balanced_gateways", ()))
    if balanced:  # compose: one URL, the balancer alternates
        yield [str(stack.gateway_url)], balanced
        return
    url = str(stack.add_gateway())
    name = f"gateway-{urlsplit(url).port}"
    try:
        yield [str(stack.gateway_url), url], ["gateway", name]
    finally:
        stack.stop_service(name)


@pytest.fixture
async def one_address_clients(gateways: tuple[list[str], list[str]]
                              ) -> AsyncIterator[tuple[str, list[httpx.AsyncClient]]]:
    """A client per URL, all from the same source address (one rate-limit bucket)."""
    address = next_client_address()
    clients = [httpx.AsyncClient(base_url=url, timeout=15,
                                 transport=httpx.AsyncHTTPTransport(local_address=address))
               for url in gateways[0]]
    yield address, clients
    for client in clients:
        await client.aclose()


async def test_one_client_has_one_exact_limit_across_two_gateways(
        stack: Any, gateways: tuple[list[str], list[str]],
        one_address_clients: tuple[str, list[httpx.AsyncClient]]) -> None:
    address, clients = one_address_clients
    run = uuid.uuid4().hex[:12]
    request_ids = [f"balanced-{run}-{i}" for i in range(REQUESTS)]
    statuses: dict[str, int] = {}
    for i, request_id in enumerate(request_ids):  # one after another: the order is the count
        response = await clients[i % len(clients)].get(
            "/.well-known/jwks.json", headers={"X-Request-ID": request_id})
        assert response.headers["x-request-id"] == request_id
        statuses[request_id] = response.status_code
    assert [statuses[r] for r in request_ids] == [200] * LIMIT + [429] * (REQUESTS - LIMIT)

    served = await _served_by(stack, gateways[1], f"balanced-{run}-", len(request_ids))
    # Every request reached exactly one gateway, which counted our client's address (on
    # compose: the balancer's X-Forwarded-For, believed from the balancer only).
    assert sorted(r for lines in served.values() for r in lines) == sorted(request_ids)
    for name, lines in served.items():
        assert {line["client_ip"] for line in lines.values()} == {address}, name
        # Both allowed and refused: below 30 of its own it refused, so it counted the
        # other gateway's requests too.
        assert {statuses[r] for r in lines} == {200, 429}, (name, sorted(lines))


async def _served_by(stack: Any, names: list[str], marker: str, expected: int
                     ) -> dict[str, dict[str, dict[str, Any]]]:
    """Each gateway's access lines of this test's requests, by request ID (written once
    the response has gone out: given a moment)."""
    served: dict[str, dict[str, dict[str, Any]]] = {}
    for _ in range(50):
        served = {name: {line["request_id"]: line
                         for line in stack.log_lines(name, containing=marker)
                         if line.get("event") == "request"}
                  for name in names}
        if sum(map(len, served.values())) >= expected:
            break
        await asyncio.sleep(0.1)
    return served
