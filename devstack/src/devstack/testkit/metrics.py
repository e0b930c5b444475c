"""Reading a service's Prometheus metrics in tests, from its private metrics listener
(`Service.metrics_url`; the public ports have no /metrics)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def metric_sum(metrics_url: str, sample_name: str, **labels: str) -> float:
    """The sum of every sample named `sample_name` (e.g. `..._total`, `..._count`) whose
    labels include `labels`."""
    async with httpx.AsyncClient(timeout=10) as client:
        scrape = await client.get(metrics_url)
    scrape.raise_for_status()
    return sum(sample.value for family in text_string_to_metric_families(scrape.text)
               for sample in family.samples
               if sample.name == sample_name
               and all(sample.labels.get(k) == v for k, v in labels.items()))
