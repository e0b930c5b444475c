"""What one bench run does and for how long: full (`make bench`) or BENCH_QUICK=1."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    duration: int  # seconds per measured wrk run
    warmup: int  # seconds per target before its first measured run
    rounds: int  # interleaved rounds of the core cells
    secondary_rounds: int  # rounds of the attribution / c64 / W2 cells
    connections: tuple[int, ...] = (32, 64)
    users: int = 1000  # seeded W1 users, one access token each
    xff_addresses: int = 10_000
    w3_users: int = 200  # users with default-parameter hashes for the login storm
    w3_rate_connections: int = 4  # W1 at a fixed rate during W3: connections x 1/delay
    w3_delay_ms: int = 20
    login_connections: int = 16
    w5_duration: int = 20
    argon2_seconds: int = 10
    seed_concurrency: int = 32
    high_limit: int = 100_000_000  # per IP per 60 s: far above any offered load
    hello_rounds: int = 2  # R-hello (bench/hello.py): interleaved rounds ...
    hello_duration: int = 15  # ... of this many seconds per run
    revocation_trials: int = 200  # R-revoke (bench/revocation.py): logouts measured
    forgot_requests: int = 100  # A-forgot (bench/account_timing.py): asks of each kind (>= 50)
    # BENCH_GROUPS: "all", or a comma-separated selection of "core" (W1-W5, login, argon2),
    # "hello" (R-hello), "revocation" (R-revoke) and "account" (A-forgot), e.g.
    # BENCH_GROUPS=hello for the proxies
    groups: tuple[str, ...] = ("core", "hello", "revocation", "account")
    # Full mode must finish in 15 minutes: secondary cells that would overrun are skipped.
    budget_seconds: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> BenchConfig:
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        base: dict[str, object] = (
            dict(duration=5, warmup=3, rounds=2, secondary_rounds=1, w5_duration=5,
                 argon2_seconds=3, w3_users=64, budget_seconds=0, hello_rounds=1,
                 hello_duration=5)
            if quick else
            dict(duration=30, warmup=10, rounds=3, secondary_rounds=1, w5_duration=20,
                 argon2_seconds=10, w3_users=200, budget_seconds=870, hello_rounds=2,
                 hello_duration=15))
        for key in ("duration", "warmup", "rounds", "secondary_rounds", "users",
                    "budget_seconds", "revocation_trials", "forgot_requests"):
            value = os.environ.get(f"BENCH_{key.upper()}")
            if value:
                base[key] = int(value)
        groups = os.environ.get("BENCH_GROUPS", "all").replace(" ", "")
        if groups != "all":
            chosen = tuple(g for g in groups.split(",") if g)
            unknown = set(chosen) - {"core", "hello", "revocation", "account"}
            if unknown or not chosen:
                raise SystemExit(f"BENCH_GROUPS: unknown {sorted(unknown)}; "
                                 "use core, hello, revocation, account")
            base["groups"] = chosen
        return cls(quick=quick, **base)  # type: ignore[arg-type]
