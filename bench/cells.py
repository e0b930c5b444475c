"""A few cells of the matrix on their own, for before/after comparisons of one change:

    uv run --frozen python -m bench.cells W1:gateway W2:gateway

Starts the bench topology, seeds the W1 tokens, warms and measures each named cell once
(BENCH_DURATION / BENCH_WARMUP seconds, full-mode defaults), prints one JSON line per
cell (req/s, latency percentiles, CPU µs per request of the gateway and Redis) and stops
everything. Interleave runs of two trees and compare medians (docs/performance.md)."""

from __future__ import annotations

import json
import sys

from bench.config import BenchConfig
from bench.run import ensure_tools
from bench.scenarios import Cell, Runner
from bench.seed import seed_tokens
from bench.topology import Topology


def main(argv: list[str]) -> int:
    specs = argv or ["W1:gateway", "W2:gateway"]
    cfg = BenchConfig.from_env()
    ensure_tools()
    top = Topology(cfg.high_limit)
    try:
        top.up()
        tokens = top.workdir / "tokens.txt"
        seed_tokens(top.urls["auth_seed"], cfg.users, cfg.seed_concurrency, tokens)
        top.stop_seed_auth()
        runner = Runner(top, cfg, tokens)
        for spec in specs:
            scenario, _, target = spec.partition(":")
            cell = Cell(scenario, cfg.connections[0], target or "gateway")
            runner.warm(cell)
            result = runner.run_cell(cell)
            print(json.dumps({"cell": cell.key, "rps": round(result["rps"], 1),
                              "latency_us": result["latency_us"],
                              "cpu_us_per_request": result["cpu_us_per_request"],
                              "non_2xx": result["non_2xx"]}), flush=True)
    finally:
        top.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
