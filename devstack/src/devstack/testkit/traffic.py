"""Client-side load for fault tests: steady traffic from many source addresses and what the
clients saw (statuses, connection failures, latencies), plus polling helpers."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from devstack.testkit.metrics import metric_sum


@dataclass
class Report:
    """What the clients saw: (status or exception name, latency s, monotonic end time)."""

    results: list[tuple[int | str, float, float]] = field(default_factory=list)
    started: float = 0.0
    stopped: float = 0.0

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def rate(self) -> float:
        return self.total / max(self.stopped - self.started, 1e-9)

    def statuses(self) -> dict[int | str, int]:
        counts: dict[int | str, int] = {}
        for status, _, _ in self.results:
            counts[status] = counts.get(status, 0) + 1
        return counts

    @property
    def server_errors(self) -> int:
        return sum(1 for s, _, _ in self.results if isinstance(s, int) and s >= 500)

    @property
    def client_failures(self) -> int:
        """Connection errors and timeouts: a client would see these as outages too."""
        return sum(1 for s, _, _ in self.results if isinstance(s, str))

    @property
    def max_latency(self) -> float:
        return max((lat for _, lat, _ in self.results), default=0.0)

    @property
    def p99_latency(self) -> float:
        latencies = sorted(lat for _, lat, _ in self.results)
        return latencies[int(len(latencies) * 0.99)] if latencies else 0.0

    def between(self, start: float, end: float) -> Report:
        return Report([r for r in self.results if start <= r[2] <= end], start, end)

    def summary(self) -> str:
        median = statistics.median(lat for _, lat, _ in self.results) if self.results else 0
        return (f"{self.total} requests at {self.rate:.0f}/s, statuses {self.statuses()}, "
                f"5xx {self.server_errors}, client failures {self.client_failures}, "
                f"latency median {median * 1000:.0f} ms p99 {self.p99_latency * 1000:.0f} ms "
                f"max {self.max_latency * 1000:.0f} ms")


class Traffic:
    """`workers` loops, each from its own client IP, each sending GET `path` then pausing
    `pause` s, until stopped (or `max_seconds`, a safety bound)."""

    def __init__(self, base_url: str, ips: list[str], path: str = "/.well-known/jwks.json",
                 pause: float = 0.04, max_seconds: float = 120.0,
                 headers: dict[str, str] | None = None) -> None:
        self.base_url, self.ips, self.path, self.pause = base_url, ips, path, pause
        self.headers = headers or {}
        self.max_seconds = max_seconds
        self.report = Report()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self, ip: str) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=ip)
        deadline = time.monotonic() + self.max_seconds
        async with httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=10,
                                     headers=self.headers) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                began = time.monotonic()
                status: int | str
                try:
                    status = (await client.get(self.path)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                ended = time.monotonic()
                self.report.results.append((status, ended - began, ended))
                await asyncio.sleep(self.pause)

    async def __aenter__(self) -> Traffic:
        self.report.started = time.monotonic()
        self._tasks = [asyncio.create_task(self._worker(ip)) for ip in self.ips]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self.report.stopped = time.monotonic()

    async def wait_requests(self, n: int, within: float = 30.0) -> None:
        """Until `n` more requests have completed."""
        target = self.report.total + n
        await poll(lambda: self.report.total >= target, within, f"{n} more requests")


async def poll(check: Callable[[], bool | Awaitable[bool]], within: float, what: str,
               interval: float = 0.1) -> float:
    """Wait until `check()` is true; returns the seconds it took."""
    began = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


async def limiter_mode(client: httpx.AsyncClient) -> str:
    """'redis' or 'fallback', as the gateway's readiness details say."""
    return limiter_mode_of(await client.get("/health/ready"))


def limiter_mode_of(ready: httpx.Response) -> str:
    """The limiter mode in a `/health/ready` answer (200 or 503 problem: both carry it)."""
    checks: dict[str, Any] = ready.json().get("checks", {})
    return str(checks.get("ratelimit"))


def server_latencies(log_lines: list[dict[str, Any]], ips: set[str]) -> list[float]:
    """Seconds the gateway itself spent on each request from `ips` (its access log's
    duration_ms): latency without the load generator's own scheduling delays."""
    return sorted(float(line["duration_ms"]) / 1000 for line in log_lines
                  if line.get("event") == "request" and line.get("client_ip") in ips)


async def fallback_decisions(*metrics_urls: str) -> int:
    """Rate-limit decisions the gateways' in-process fallback made so far, read from their
    private metrics listeners (`Service.metrics_url`; the public port has no /metrics)."""
    counts = [await metric_sum(url, "gateway_ratelimit_decisions_total", source="fallback")
              for url in metrics_urls]
    return int(sum(counts))
