"""R-hello (issue 20): what each proxy costs per request on its own, in front of one cheap
upstream that answers every request the same (nginx `return 200` of a small JSON).

The proxies, one at a time, all pinned to core 0 (taskset); the load generator, the upstream
and the Redis nodes on core 1, so the proxy's CPU is its own:

- `nginx`: 1 worker, `proxy_pass` with upstream keep-alive, `limit_req` per client IP
  (realip from X-Forwarded-For), as R1;
- `gateway`: rate limit on (a far-away limit, so every request runs the limiter script in
  Redis), JWT checked on the protected `/users/me` with rotating valid tokens, the client IP
  from trusted X-Forwarded-For spread over 10,000 addresses;
- `gateway_bare`: no limit, no JWT;
- `naive`: the FastAPI + httpx proxy (bench/naive_proxy.py).

Every proxy gets the same request list (token + X-Forwarded-For rotating). Two runs each:
saturated (32 connections) for CPU µs per request of the proxy and, beside it, of Redis
(where the gateway's limiter work runs; nginx's limit_req runs in its own process), and
capacity per core = 1e6 ÷ CPU µs; and paced at one fixed rate for all (wrk `delay()`,
closed loop, as W3) for p50/p99 and the CPU per request at that rate."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.config import BenchConfig
from bench.procs import CpuMeter, children_map, tree
from bench.topology import BENCH_DIR, REPO_ROOT, Topology, _is_root, _render
from devstack.ports import free_port
from devstack.processes import Program
from devstack.services import wait_http_ok

TARGETS = ("nginx", "gateway", "gateway_bare", "naive")
PATH = "/users/me"  # protected at the gateway; every proxy sends it to the hello upstream
PROXY_CORE, LOAD_CORE = 0, 1
SATURATED_CONNECTIONS = 32
# The fixed rate: 16 connections, each pausing 10 ms after a response (~1,500 req/s when
# latency is ~0.5 ms): far below what nginx and the gateway carry on one core.
PACED_CONNECTIONS, PACED_DELAY_MS = 16, 10
HELLO_BODY = '{"id":"hello","email":"hello@example.com","display_name":"hello"}'

_UPSTREAM = f"""
        location / {{
            default_type application/json;
            return 200 '{HELLO_BODY}';
        }}"""
_PROXY = """
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $remote_addr;
        limit_req zone=per_ip burst=1000 nodelay;
        location / {
            proxy_pass http://hello;
        }"""


class PinnedWrk(wrk.WrkJob):
    """wrk on the load core."""

    def argv(self) -> list[str]:
        return ["taskset", "-c", str(LOAD_CORE), *super().argv()]


def pin(pids: list[int], core: int | None) -> None:
    """Every thread of each process (and of its children) on `core`; None: any core."""
    cores = {core} if core is not None else set(range(os.cpu_count() or 1))
    children = children_map()
    for root in pids:
        for pid in tree(root, children):
            with contextlib.suppress(OSError):  # exited meanwhile
                for tid in os.listdir(f"/proc/{pid}/task"):
                    os.sched_setaffinity(int(tid), cores)


class HelloBench:
    def __init__(self, top: Topology, cfg: BenchConfig, tokens: Path) -> None:
        self.top, self.cfg, self.tokens = top, cfg, tokens
        self.urls: dict[str, str] = {}
        self.programs: dict[str, str] = {}

    # -- start -------------------------------------------------------------------------
    def up(self) -> None:
        upstream_port = free_port()
        upstream = f"http://127.0.0.1:{upstream_port}"
        self._nginx("hello-upstream", upstream_port, upstream_port, _UPSTREAM)
        self.urls["nginx"] = self._nginx("hello-nginx", free_port(), upstream_port, _PROXY)
        self.programs["nginx"] = "hello-nginx"
        high = str(self.top.high_limit)
        for name, env in {
            "gateway": {"RATE_LIMIT_REQUESTS": high, "RATE_LIMIT_WINDOW_SECONDS": "60"},
            "gateway_bare": {"RATE_LIMIT_ENABLED": "false", "JWT_ENABLED": "false"},
        }.items():
            url = self.top.stack.add_gateway(env={"USER_SERVICE_URL": upstream,
                                                  "TRUSTED_PROXIES": "127.0.0.1/32", **env})
            self.urls[name] = url
            self.programs[name] = f"gateway-{url.rsplit(':', 1)[1]}"
        self.urls["naive"] = self._naive(upstream)
        self.programs["naive"] = "hello-naive"
        for target in TARGETS:
            pin(self.top.pid(self.programs[target]), PROXY_CORE)
        pin(self._load_side(), LOAD_CORE)

    def _load_side(self) -> list[int]:
        ports = self.top.stack.config.redis_ports
        return [pid for name in ("hello-upstream", *(f"redis-{p}" for p in ports))
                for pid in self.top.pid(name)]

    def _nginx(self, name: str, port: int, upstream_port: int, body: str) -> str:
        nginx = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "nginx"
        state = self.top.workdir / name
        state.mkdir()
        state.chmod(0o755)
        conf = state / "nginx.conf"
        conf.write_text(_render((BENCH_DIR / "nginx-hello.conf.template").read_text(),
                                user_directive="user nobody nogroup;" if _is_root() else "",
                                state_dir=state, port=port, upstream_port=upstream_port,
                                limit_rate=self.top.high_limit, body=body))
        self._start(Program(name=name, argv=[nginx, "-p", str(state), "-c", str(conf)],
                            stopsignal="QUIT", stopwaitsecs=10, stopasgroup=True,
                            priority=600))
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/users/me", self.top.stack.supervisor, name, 30)
        return url

    def _naive(self, upstream: str) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "bench.naive_proxy:app", "--host",
                "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
                "--log-level", "warning"]
        self._start(Program(name="hello-naive", argv=argv, directory=REPO_ROOT,
                            stopasgroup=True, priority=600,
                            env={"NAIVE_AUTH_URL": upstream, "NAIVE_USER_URL": upstream}))
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/users/me", self.top.stack.supervisor, "hello-naive", 30)
        return url

    def _start(self, program: Program) -> None:
        self.top.stack.supervisor.add(program)
        self.top.stack.supervisor.start(program.name)

    def release(self) -> None:
        """The Redis nodes back on every core, for whatever runs after."""
        pin(self._load_side(), None)

    # -- measure -----------------------------------------------------------------------
    def job(self, target: str, connections: int, duration: int, delay_ms: int = 0) -> PinnedWrk:
        env = {"BENCH_XFF": str(self.cfg.xff_addresses), "BENCH_TOKENS": str(self.tokens)}
        if delay_ms:
            env["BENCH_DELAY_MS"] = str(delay_ms)
        return PinnedWrk(self.urls[target], PATH, connections, duration, env)

    def measure(self, target: str, job: PinnedWrk) -> dict[str, Any]:
        ports = self.top.stack.config.redis_ports
        meter = CpuMeter({
            "proxy": lambda: self.top.pid(self.programs[target]),
            "redis": lambda: [pid for p in ports for pid in self.top.pid(f"redis-{p}")],
        })
        before = meter.snapshot()
        result = wrk.run(job)
        time.sleep(0.3)  # requests wrk abandoned at its end settle
        cpu = meter.delta_seconds(before, meter.snapshot())
        n = max(result["requests"], 1)
        result["cpu_us_per_request"] = {k: round(v * 1e6 / n, 1) for k, v in cpu.items()}
        return result

    def run(self, rounds: int, duration: int) -> dict[str, Any]:
        """Saturated and paced runs of every target, rounds interleaved (order rotated)."""
        runs: dict[str, list[dict[str, Any]]] = {}
        for target in TARGETS:
            _log(f"hello: warm-up {target}")
            wrk.run(self.job(target, SATURATED_CONNECTIONS, max(2, self.cfg.warmup // 2)))
        for round_no in range(rounds):
            shift = round_no % len(TARGETS)
            for target in TARGETS[shift:] + TARGETS[:shift]:
                for kind, job in (
                        ("saturated", self.job(target, SATURATED_CONNECTIONS, duration)),
                        ("paced", self.job(target, PACED_CONNECTIONS, duration,
                                           PACED_DELAY_MS))):
                    result = self.measure(target, job)
                    _log(f"hello {kind} {target}: {result['rps']:.0f} req/s, p99 "
                         f"{result['latency_us']['p99'] / 1000:.2f} ms, CPU µs/req "
                         f"{result['cpu_us_per_request']}, non-2xx {result['non_2xx']}")
                    runs.setdefault(f"{kind}_{target}", []).append(result)
        return {key: _summary(results) for key, results in runs.items()}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    med = statistics.median
    proxy = med(r["cpu_us_per_request"]["proxy"] for r in runs)
    return {
        "rounds": len(runs),
        "rps": med(r["rps"] for r in runs),
        "p50_ms": med(r["latency_us"]["p50"] for r in runs) / 1000,
        "p99_ms": med(r["latency_us"]["p99"] for r in runs) / 1000,
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "proxy_cpu_us": round(proxy, 1),
        "redis_cpu_us": round(med(r["cpu_us_per_request"]["redis"] for r in runs), 1),
        "capacity_per_core": round(1e6 / proxy) if proxy else None,
        "commands": sorted({r["command"] for r in runs}),
    }


def ratios(cells: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    def get(key: str, field: str) -> float | None:
        cell = cells.get(key)
        return None if cell is None else cell[field]

    def div(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    gateway = get("saturated_gateway", "proxy_cpu_us")
    nginx = get("saturated_nginx", "proxy_cpu_us")
    redis = get("saturated_gateway", "redis_cpu_us")
    return {
        "rhello_gateway_cpu_over_nginx": div(gateway, nginx),
        "rhello_gateway_with_redis_cpu_over_nginx": div(
            None if gateway is None or redis is None else gateway + redis, nginx),
        "rhello_gateway_p99_over_nginx_p99": div(get("paced_gateway", "p99_ms"),
                                                 get("paced_nginx", "p99_ms")),
        "rhello_naive_cpu_over_gateway": div(get("saturated_naive", "proxy_cpu_us"), gateway),
        "rhello_gateway_cpu_over_bare_same_rate": div(get("paced_gateway", "proxy_cpu_us"),
                                                      get("paced_gateway_bare", "proxy_cpu_us")),
    }


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
