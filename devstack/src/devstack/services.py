"""The three application services as supervised console scripts from the venv."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.paths import REPO_ROOT
from devstack.processes import ProcessError, Program, Supervisor

HOST = "127.0.0.1"
# Start order (and supervisord priority: shutdown runs in reverse).
ORDER = ("user-service", "auth-service", "gateway")
PRIORITY = {"user-service": 200, "auth-service": 300, "gateway": 400}


@dataclass
class Service:
    """One service program: `script` is the console script name in the venv."""

    name: str
    script: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    metrics_port: int = 0  # its private metrics listener (METRICS_PORT); 0: none

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Where its Prometheus metrics are (never on the public port)."""
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def program(self, bin_dir: Path, *, autorestart: bool) -> Program:
        return Program(
            name=self.name,
            argv=[str(bin_dir / self.script)],
            env={"PYTHONUNBUFFERED": "1", **self.env},
            directory=REPO_ROOT,
            stopsignal="TERM",
            stopwaitsecs=15,
            priority=PRIORITY.get(self.script, 500),
            autorestart=autorestart,
            # uvicorn reloaders/workers are children: stop them with the parent.
            stopasgroup=True,
            startsecs=1,
        )


def script_problem(bin_dir: Path, script: str) -> str | None:
    """None when `script` can run; otherwise why not (services are still being written)."""
    path = bin_dir / script
    if not path.exists():
        return f"{path} does not exist"
    match = re.search(r"^from (\S+) import", path.read_text(errors="replace"), re.MULTILINE)
    if match is None:
        return None
    # Check in the venv's interpreter, without importing service code into this process.
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)"
    try:
        found = subprocess.run([str(bin_dir / "python"), "-c", probe, match.group(1)],
                               capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        found = False
    return None if found else f"its entry point module {match.group(1)} does not exist yet"


def wait_http_ok(url: str, supervisor: Supervisor, program: str, timeout: float) -> None:
    """Poll `url` until 200, failing early if the program dies."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            supervisor.check_alive(program, program)
            if time.monotonic() > deadline:
                raise ProcessError(f"{program}: GET {url} not 200 after {timeout:.0f}s ({last})",
                                   supervisor.tail(program))
            time.sleep(0.2)


def run_migrations(bin_dir: Path, env: dict[str, str], log: Path, timeout: float) -> None:
    """`user-service migrate` as a one-shot command (like compose's migration job)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        try:
            done = subprocess.run([str(bin_dir / "user-service"), "migrate"],
                                  env={**os.environ, **env}, cwd=REPO_ROOT, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ProcessError(f"user-service migrate timed out after {timeout:.0f}s",
                               _tail(log)) from exc
    if done.returncode != 0:
        raise ProcessError(f"user-service migrate failed (exit {done.returncode}); log: {log}",
                           _tail(log))


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
