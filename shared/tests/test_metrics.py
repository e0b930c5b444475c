"""HTTP metrics are labelled by route template and served on the private metrics listener,
never on the public port (where /metrics is a 404)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from devstack.ports import free_ports
from shared import metrics_listener
from shared.web import Readiness, build_service_app


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


@contextlib.asynccontextmanager
async def _served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """The app on a real uvicorn server, lifespan included (it opens the metrics listener)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10  # a hang guard only
    while not server.started:
        assert not task.done(), "server did not start"
        assert time.monotonic() < deadline, "server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_requests_are_counted_by_route_template_on_the_private_listener() -> None:
    public_port, metrics_port = free_ports(2)
    app = build_service_app(title="metrics-test", version="1", readiness=Readiness(),
                            metrics_host="127.0.0.1", metrics_port=metrics_port)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    async with _served(app, public_port) as url, httpx.AsyncClient(base_url=url) as client:
        before = (await client.get(metrics_url)).text
        for thing_id in ("a", "b", "c"):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/no/such/route")).status_code == 404
        public = await client.get("/metrics")
        scrape = await client.get(metrics_url)
    # The listener closes with the app: nothing is left listening on the metrics port.
    async with httpx.AsyncClient() as client:
        try:
            await client.get(metrics_url)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the metrics listener outlived the app")

    assert public.status_code == 404
    assert public.headers["content-type"] == "application/problem+json"
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    labels = {"method": "GET", "route": "/things/{thing_id}", "status": "200"}
    counted = _sample(scrape.text, "http_requests_total", **labels)
    assert counted - _sample(before, "http_requests_total", **labels) == 3
    assert _sample(scrape.text, "http_request_duration_seconds_count", **labels) >= 3
    # Unknown paths share one label value, whatever their spelling.
    assert _sample(scrape.text, "http_requests_total", route="<unmatched>", status="404") >= 1
    assert "/no/such/route" not in scrape.text


async def test_listener_serves_only_get_metrics_where_it_is_bound() -> None:
    (port,) = free_ports(1)
    async with metrics_listener("127.0.0.1", port, lambda: b"up 1\n") as bound:
        assert bound == port
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            ok = await client.get("/metrics?x=1")
            head = await client.head("/metrics")
            other = await client.get("/health/live")
            post = await client.post("/metrics")
        # Bound to the address it was given, not to every interface.
        assert await _reachable("127.0.0.1", port)
        assert not await _reachable("127.0.0.2", port)
    assert ok.status_code == 200
    assert ok.text == "up 1\n"
    assert ok.headers["content-type"].startswith("text/plain")
    assert head.status_code == 200
    assert head.content == b""
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "not_found"
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"


async def _reachable(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def test_port_zero_opens_no_listener() -> None:
    async with metrics_listener("127.0.0.1", 0, lambda: b"") as bound:
        assert bound is None
