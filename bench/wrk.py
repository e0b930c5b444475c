"""Running wrk (1 thread) with bench/lua/rotate.lua and reading its JSON summary."""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua" / "rotate.lua"
MARKER = "BENCH_JSON "


@dataclass
class WrkJob:
    url: str
    path: str
    connections: int
    duration: int
    env: dict[str, str] = field(default_factory=dict)  # BENCH_* for the Lua script

    def argv(self) -> list[str]:
        return ["wrk", "-t1", f"-c{self.connections}", f"-d{self.duration}s", "--timeout", "10s",
                "-s", str(LUA), self.url + self.path]

    def full_env(self) -> dict[str, str]:
        import os
        return {**os.environ, "BENCH_PATH": self.path, **self.env}

    def command_line(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return f"BENCH_PATH={self.path} {env} {shlex.join(self.argv())}".strip()

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(), env=self.full_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


def finish(job: WrkJob, proc: subprocess.Popen[str]) -> dict[str, Any]:
    """Wait for a started job; its summary with requests/s and the command line."""
    try:
        out, _ = proc.communicate(timeout=job.duration + 60)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    for line in out.splitlines():
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER):])
            break
    else:
        raise RuntimeError(f"wrk gave no summary (exit {proc.returncode}):\n{out[-2000:]}")
    seconds = result["duration_us"] / 1e6
    result["seconds"] = seconds
    result["rps"] = result["requests"] / seconds if seconds else 0.0
    result["non_2xx"] = result["errors"]["status"]
    result["socket_errors"] = sum(v for k, v in result["errors"].items() if k != "status")
    result["command"] = job.command_line()
    return result


def run(job: WrkJob) -> dict[str, Any]:
    return finish(job, job.start())
