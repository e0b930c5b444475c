"""HTTP metrics are labelled by route template and exposed at /metrics."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.web import Readiness, build_service_app


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


async def test_requests_are_counted_by_route_template() -> None:
    app = build_service_app(title="metrics-test", version="1", readiness=Readiness())

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        before = (await client.get("/metrics")).text
        for thing_id in ("a", "b", "c"):
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
        assert (await client.get("/no/such/route")).status_code == 404
        scrape = await client.get("/metrics")

    assert scrape.headers["content-type"].startswith("text/plain")
    labels = {"method": "GET", "route": "/things/{thing_id}", "status": "200"}
    counted = _sample(scrape.text, "http_requests_total", **labels)
    assert counted - _sample(before, "http_requests_total", **labels) == 3
    assert _sample(scrape.text, "http_request_duration_seconds_count", **labels) >= 3
    # Unknown paths share one label value, whatever their spelling.
    assert _sample(scrape.text, "http_requests_total", route="<unmatched>", status="404") >= 1
    assert "/no/such/route" not in scrape.text
