"""The measurements: one wrk run with CPU and Redis accounting around it, the W1/W2 matrix,
W3 (login storm vs fixed-rate W1), W5 (one IP flooding), login throughput, raw argon2."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import report, wrk
from bench.config import BenchConfig
from bench.procs import CpuMeter, RedisCounter
from bench.topology import Topology
from shared.passwords import Argon2Params, PasswordHasher

# W2 needs a proxied route without a token: the gateway's own /health/live is answered by
# the gateway itself, so W2 uses the JWKS document (GET, no auth, proxied to auth-service).
PATHS = {"W1": "/users/me", "W2": "/.well-known/jwks.json"}
# Commands the limiter script runs inside Redis: counted by commandstats, not round trips.
SCRIPT_INNER = {"time", "zremrangebyscore", "zcard", "zscore", "zadd", "pexpire", "zrange"}
NOT_CLIENT = {"info", "replconf", "ping"}  # our own snapshots, replication, cluster bus
# Background reads that run about once a second per process whatever the load, so not
# per-request round trips; counted apart (`redis_background_reads`): the verifiers'
# revocation feeds (one blocking XREAD, REVOCATION_BLOCK_MS; docs/revocation.md) and the
# auth service's mail sender polling its outbox (XREADGROUP and XAUTOCLAIM every
# MAIL_POLL_INTERVAL_SECONDS; docs/account-lifecycle.md). They show in the direct and
# nginx cells too, which send nothing through the gateway.
BACKGROUND_READS = {"xread", "xreadgroup", "xautoclaim"}


def gateway_counters(metrics_url: str) -> dict[str, int]:
    """Responses and limiter decisions the gateway counted, read from its private metrics
    listener (scrapes there are not requests to the gateway, so they are not counted)."""
    text = httpx.get(metrics_url, timeout=5).text
    out = {"responses": 0, "redis_decisions": 0, "fallback_decisions": 0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_requests_total":
                out["responses"] += int(sample.value)
            elif sample.name == "gateway_ratelimit_decisions_total":
                kind = "redis" if sample.labels["source"] == "redis" else "fallback"
                out[f"{kind}_decisions"] += int(sample.value)
    if out["responses"] == 0 and "gateway_requests_total" not in text:
        raise RuntimeError(f"{metrics_url} has no gateway_requests_total: harness out of date")
    return out


@dataclass(frozen=True)
class Cell:
    scenario: str  # W1 or W2
    connections: int
    target: str  # gateway, gateway_norl, ..., direct, nginx, naive

    @property
    def key(self) -> str:
        return f"{self.scenario.lower()}_c{self.connections}_{self.target}"


class Runner:
    def __init__(self, top: Topology, cfg: BenchConfig, tokens: Path) -> None:
        self.top, self.cfg, self.tokens = top, cfg, tokens
        self.redis = RedisCounter(top.stack.config.redis_ports)
        self.commands: list[str] = []

    def url(self, cell: Cell) -> str:
        if cell.target == "direct":
            return self.top.urls["direct" if cell.scenario == "W1" else "auth"]
        return self.top.urls[cell.target]

    def job(self, cell: Cell, duration: int) -> wrk.WrkJob:
        env = {"BENCH_XFF": str(self.cfg.xff_addresses)}
        if cell.scenario == "W1":
            env["BENCH_TOKENS"] = str(self.tokens)
        return wrk.WrkJob(self.url(cell), PATHS[cell.scenario], cell.connections, duration, env)

    def measure(self, job: wrk.WrkJob, target: str, *parallel: wrk.WrkJob) -> dict[str, Any]:
        """One wrk run (plus `parallel` jobs started 2 s earlier) with accounting around it."""
        meter = CpuMeter(self.top.cpu_groups(target))  # type: ignore[arg-type]
        gw_url = (self.top.stack.metrics_url(self.top.programs[target])
                  if target.startswith("gateway") else None)
        masters = self.redis.masters()
        others = [(p, p.start()) for p in parallel]
        if others:
            time.sleep(2)
        gw0 = gateway_counters(gw_url) if gw_url else {}
        cpu0, redis0 = meter.snapshot(), self.redis.snapshot()
        result = wrk.run(job)
        gw1 = _settled(gw_url) if gw_url else {}
        if not gw_url:
            time.sleep(0.3)
        cpu1, redis1 = meter.snapshot(), self.redis.snapshot()
        result["parallel"] = [wrk.finish(p, proc) for p, proc in others]
        cpu = meter.delta_seconds(cpu0, cpu1)
        cpu["redis"] = sum(v for k, v in cpu.items() if k.startswith("redis-"))
        calls = RedisCounter.delta(redis0, redis1, masters)
        for command in NOT_CLIENT:
            calls.pop(command, None)
        # The gateway's own count includes requests wrk abandoned at the end (in flight).
        served = gw1.get("responses", 0) - gw0.get("responses", 0)
        result["gateway_counters"] = {k: gw1[k] - gw0.get(k, 0) for k in gw1}
        n = max(served if gw_url else result["requests"], 1)
        result["requests_served"] = n
        result["cpu_seconds"] = cpu
        result["cpu_us_per_request"] = {k: round(v * 1e6 / n, 1) for k, v in cpu.items()}
        result["redis_calls_on_masters"] = calls
        result["redis_evalsha_per_request"] = calls.get("evalsha", 0) / n
        result["redis_commands_per_request"] = sum(calls.values()) / n
        result["redis_round_trips_per_request"] = sum(
            v for k, v in calls.items() if k not in SCRIPT_INNER | BACKGROUND_READS) / n
        result["redis_background_reads"] = sum(calls.get(k, 0) for k in BACKGROUND_READS)
        self.commands.append(job.command_line())
        return result

    # -- the matrix ----------------------------------------------------------------------
    def warm(self, cell: Cell) -> None:
        _log(f"warm-up {cell.key} ({self.cfg.warmup}s)")
        wrk.run(self.job(cell, self.cfg.warmup))

    def run_cell(self, cell: Cell) -> dict[str, Any]:
        result = self.measure(self.job(cell, self.cfg.duration), cell.target)
        _log(f"{cell.key}: {result['rps']:.0f} req/s, p99 {result['latency_us']['p99'] / 1000:.1f}"
             f" ms, non-2xx {result['non_2xx']}, errors {result['socket_errors']}")
        return result

    # -- W3 ------------------------------------------------------------------------------
    def w3(self, login_users: Path) -> dict[str, Any]:
        """Paced W1 alone, then during a login storm; `rounds` pairs, medians reported (a
        p99 from one 30 s run moves with whatever else the machine did in it)."""
        cfg = self.cfg
        env = {"BENCH_XFF": str(cfg.xff_addresses), "BENCH_TOKENS": str(self.tokens),
               "BENCH_DELAY_MS": str(cfg.w3_delay_ms)}
        paced = wrk.WrkJob(self.top.urls["gateway"], PATHS["W1"], cfg.w3_rate_connections,
                           cfg.duration, env)
        quiet_runs, storm_runs = [], []
        for _ in range(cfg.rounds):
            quiet = self.measure(paced, "gateway")
            storm = self.measure(paced, "gateway", self.login_job(cfg.duration + 4))
            quiet_runs.append(quiet)
            storm_runs.append(storm)
            _log(f"w3: W1 {quiet['rps']:.0f} req/s p99 {quiet['latency_us']['p99'] / 1000:.1f}"
                 f" ms quiet, {storm['rps']:.0f} req/s p99 "
                 f"{storm['latency_us']['p99'] / 1000:.1f} ms during the storm")
        return {"quiet": report.summarise(quiet_runs), "storm": report.summarise(storm_runs),
                "p99_ratio_per_round": [round(s["latency_us"]["p99"] / q["latency_us"]["p99"], 3)
                                        for q, s in zip(quiet_runs, storm_runs, strict=True)],
                "logins_per_second_during_storm": statistics.median(
                    _ok_rate(s["parallel"][0]) for s in storm_runs)}

    def login_job(self, duration: int) -> wrk.WrkJob:
        return wrk.WrkJob(self.top.urls["gateway"], "/auth/login", self.cfg.login_connections,
                          duration, {"BENCH_METHOD": "POST", "BENCH_USERS": str(self.login_users),
                                     "BENCH_XFF": str(self.cfg.xff_addresses),
                                     "BENCH_COUNT_STATUS": "1"})

    login_users: Path

    def login_throughput(self) -> dict[str, Any]:
        result = self.measure(self.login_job(self.cfg.duration), "gateway")
        result["logins_per_second"] = _ok_rate(result)
        _log(f"login: {result['logins_per_second']:.1f}/s (statuses {result['statuses']})")
        return result

    # -- W5 ------------------------------------------------------------------------------
    def w5(self) -> dict[str, Any]:
        rnd = secrets.randbelow
        ip = f"172.{rnd(16) + 16}.{rnd(256)}.{rnd(254) + 1}"  # a bucket no earlier run used
        job = wrk.WrkJob(self.top.urls["gateway_w5"], PATHS["W1"], 32, self.cfg.w5_duration,
                         {"BENCH_TOKENS": str(self.tokens), "BENCH_FIXED_XFF": ip,
                          "BENCH_COUNT_STATUS": "1"})
        result = self.measure(job, "gateway_w5")
        statuses = {int(k): v for k, v in result["statuses"].items()}
        result["allowed"] = statuses.get(200, 0)
        result["refused"] = statuses.get(429, 0)
        result["other"] = sum(v for k, v in statuses.items() if k not in (200, 429))
        result["limit"] = 30
        result["exact"] = result["allowed"] == 30 and result["other"] == 0
        result["rps_429"] = result["refused"] / result["seconds"]
        _log(f"w5: {result['rps_429']:.0f} 429/s, allowed {result['allowed']} of 30, "
             f"other {result['other']}")
        return result


def _settled(url: str, timeout: float = 5.0) -> dict[str, int]:
    """The gateway's counters once the requests wrk abandoned at its end have finished
    (two scrapes in a row agree)."""
    last = gateway_counters(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = gateway_counters(url)
        if now["responses"] == last["responses"]:
            return now
        last = now
    return last


def raw_argon2_rate(threads: int, seconds: float) -> dict[str, Any]:
    """Verifies per second with the default parameters through shared.PasswordHasher."""
    async def main() -> dict[str, Any]:
        hasher = PasswordHasher(Argon2Params(), max_concurrency=threads)
        digest = await hasher.hash("bench-raw-argon2-password")
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await hasher.verify(digest, "bench-raw-argon2-password")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(threads * 2)))
        elapsed = time.perf_counter() - started
        p = hasher.params
        return {"verifies_per_second": done / elapsed, "verifies": done, "seconds": elapsed,
                "threads": threads, "params": {"time_cost": p.time_cost,
                                               "memory_cost_kib": p.memory_cost_kib,
                                               "parallelism": p.parallelism}}
    return asyncio.run(main())


def _ok_rate(result: dict[str, Any]) -> float:
    return float(result["statuses"].get("200", 0)) / float(result["seconds"])


def _log(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)
