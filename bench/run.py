"""`python -m bench`: start everything, seed, run the scenarios, write the results, stop all.

See docs/performance.md for the method and how to read the output.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_service.config import default_hashing_threads
from bench import account_timing, hello, report, revocation
from bench.config import BenchConfig
from bench.scenarios import Cell, Runner, raw_argon2_rate
from bench.seed import seed_login_users, seed_tokens
from bench.topology import REPO_ROOT, Topology

RESULTS = Path(__file__).resolve().parent / "results"
DEBS = {"wrk": "wrk", "nginx": "nginx"}  # command -> Debian package


def ensure_tools() -> None:
    """wrk and nginx from Debian when missing (root only); nothing else is fetched."""
    missing = [pkg for cmd, pkg in DEBS.items()
               if not shutil.which(cmd) and not Path(f"/usr/sbin/{cmd}").exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"bench: missing {missing}: apt-get install {' '.join(missing)}")
    print(f"bench: installing {missing} (apt)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Keep the package's init script from starting nginx on port 80.
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, env=env)
    finally:
        if created:
            policy.unlink(missing_ok=True)


def cells(cfg: BenchConfig) -> tuple[list[Cell], list[Cell]]:
    """Core cells (every round: the target ratios) and secondary cells (64 connections,
    attribution variants, W2), in the order they are run when the time budget allows."""
    c1, c2 = cfg.connections
    core = [Cell("W1", c1, t) for t in ("gateway", "direct", "nginx", "naive")]
    # Most telling first, as the budget may not fit them all: bare and no-limiter attribute
    # the gateway's cost (no-JWT only cross-checks them), then W2, then 64 connections.
    secondary = [Cell("W1", c1, t) for t in ("gateway_bare", "gateway_norl")]
    secondary += [Cell("W2", c1, t) for t in ("gateway", "nginx")]
    secondary += [Cell("W1", c1, "gateway_nojwt")]
    secondary += [Cell("W1", c2, t) for t in ("gateway", "nginx")]
    return core, secondary


def estimate_seconds(cfg: BenchConfig) -> int:
    total = 0
    if "core" in cfg.groups:
        core, secondary = cells(cfg)
        warm = len({(c.scenario, c.target) for c in core + secondary}) * cfg.warmup
        matrix = (len(core) * cfg.rounds + len(secondary) * cfg.secondary_rounds) * cfg.duration
        w3_and_login = (2 * cfg.rounds + 1) * cfg.duration + 6 * cfg.rounds
        total += warm + matrix + w3_and_login + cfg.w5_duration + cfg.argon2_seconds
    if "hello" in cfg.groups:  # two runs per target and round, a short warm-up each
        total += len(hello.TARGETS) * (2 * cfg.hello_rounds * cfg.hello_duration
                                       + max(2, cfg.warmup // 2))
    return total


class Matrix:
    """Runs cells (warming each target once), interleaved by rounds; keeps every run."""

    def __init__(self, runner: Runner, cfg: BenchConfig) -> None:
        self.runner, self.cfg = runner, cfg
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.warmed: set[tuple[str, str]] = set()
        self.skipped: list[str] = []

    def cost(self, cell: Cell) -> int:
        warm = 0 if (cell.scenario, cell.target) in self.warmed else self.cfg.warmup
        return warm + self.cfg.duration

    def run(self, cell: Cell) -> None:
        if (cell.scenario, cell.target) not in self.warmed:
            self.runner.warm(cell)
            self.warmed.add((cell.scenario, cell.target))
        self.runs.setdefault(cell.key, []).append(self.runner.run_cell(cell))

    def rounds(self, todo: list[Cell], rounds: int, deadline: float | None = None) -> None:
        for round_no in range(rounds):
            shift = round_no % len(todo)  # vary the order so no target always goes first
            for cell in todo[shift:] + todo[:shift]:
                if deadline is not None and time.monotonic() + self.cost(cell) > deadline:
                    self.skipped.append(f"{cell.key} round {round_no + 1}")
                    continue
                self.run(cell)

    def summary(self) -> dict[str, dict[str, Any]]:
        return {key: report.summarise(r) for key, r in self.runs.items() if r}


def environment() -> dict[str, Any]:
    def out(*argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    import httptools
    import uvicorn
    return {
        "cpu_model": cpu_model, "cpus": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "wrk": out("wrk", "-v"),
        "nginx": out("nginx", "-v"), "redis_server": out("redis-server", "--version"),
        "postgres": out(*_postgres_version()), "uvicorn": uvicorn.__version__,
        # The gateway's upstream HTTP and Redis clients are its own (decisions 0004, 0005),
        # built on httptools' parser and RESP2 by hand.
        "httptools": httptools.__version__,
        "git_commit": out("git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"),
        "loadavg_before": _loadavg(),
    }


def _postgres_version() -> list[str]:
    from devstack import binaries
    try:
        return [str(binaries.postgres_bin_dir().postgres), "--version"]
    except Exception:
        return ["postgres", "--version"]


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    cfg = BenchConfig.from_env()
    ensure_tools()
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C so everything is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    record: dict[str, Any] = {
        "timestamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "quick": cfg.quick,
        "config": {k: v for k, v in vars(cfg).items() if k != "extra"},
        "environment": environment(),
    }
    print(f"bench: {'quick' if cfg.quick else 'full'} mode, about "
          f"{estimate_seconds(cfg) / 60:.1f} min of load plus start-up", file=sys.stderr)
    top = Topology(cfg.high_limit)
    try:
        top.up()
        tokens, login_users = top.workdir / "tokens.txt", top.workdir / "login-users.txt"
        t0 = time.monotonic()
        seeded = seed_tokens(top.urls["auth_seed"], cfg.users, cfg.seed_concurrency, tokens)
        w3_users = (seed_login_users(top.urls["auth"], cfg.w3_users, 8, login_users)
                    if "core" in cfg.groups else 0)
        top.stop_seed_auth()
        print(f"bench: seeded {seeded} tokens, {w3_users} login users "
              f"({time.monotonic() - t0:.0f}s)", file=sys.stderr)
        record["setup_seconds"] = round(time.monotonic() - started, 1)
        runner = Runner(top, cfg, tokens)
        runner.login_users = login_users
        record["command_lines"] = top.command_lines()
        record["cells"], record["skipped_for_time"] = {}, []
        if "core" in cfg.groups:
            core, secondary = cells(cfg)
            matrix = Matrix(runner, cfg)
            matrix.rounds(core, cfg.rounds)  # the target ratios first
            record["w5"] = runner.w5()
            record["w3"] = runner.w3(login_users)
            record["login"] = runner.login_throughput()
            auth_env = top.stack.services["auth-service"].env
            threads = int(auth_env.get("HASH_CONCURRENCY") or default_hashing_threads())
            record["argon2"] = raw_argon2_rate(threads, cfg.argon2_seconds)
            # Whatever still fits in the budget: 64 connections, attribution variants, W2.
            deadline = started + cfg.budget_seconds - 20 if cfg.budget_seconds else None
            matrix.rounds(secondary, cfg.secondary_rounds, deadline)
            record["cells"] = matrix.summary()
            record["skipped_for_time"] = matrix.skipped
            record["wrk_command_lines"] = runner.commands
        if "revocation" in cfg.groups:  # quiet stack, before R-hello pins the Redis nodes
            record["revocation"] = revocation.measure(top.urls, cfg.revocation_trials)
        if "account" in cfg.groups:  # quiet stack too: one request at a time
            record["account"] = account_timing.measure(top.urls, max(50, cfg.forgot_requests))
        if "hello" in cfg.groups:
            # Last: it pins the Redis nodes to one core (released afterwards).
            proxies = hello.HelloBench(top, cfg, tokens)
            proxies.up()
            try:
                record["hello"] = proxies.run(cfg.hello_rounds, cfg.hello_duration)
            finally:
                proxies.release()
    finally:
        top.close(keep=bool(os.environ.get("BENCH_KEEP_TMP")))
    record["environment"]["loadavg_after"] = _loadavg()
    record["total_seconds"] = round(time.monotonic() - started, 1)
    record["ratios"] = report.ratios(record["cells"], record.get("w3"), record.get("w5"),
                                     record.get("login"), record.get("argon2"))
    record["ratios"].update(hello.ratios(record.get("hello", {})))
    record["verdicts"] = report.verdicts(record["ratios"])
    record["targets"] = {k: {"row": row, "direction": d, "target": t, "stretch": s}
                         for k, (row, d, t, s) in report.TARGETS.items()}
    stamped, md = report.write(record, RESULTS)
    print(md.read_text())
    print(f"bench: wrote {stamped.relative_to(REPO_ROOT)}, bench/results/latest.json, "
          f"{md.relative_to(REPO_ROOT)} in {record['total_seconds'] / 60:.1f} min",
          file=sys.stderr)
    return 0
