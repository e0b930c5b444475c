"""podman CLI calls for one compose project, run in the host's network namespace (see
compose_faults for why)."""

from __future__ import annotations

import signal
import subprocess

from devstack.processes import ProcessError


class Podman:
    """podman CLI calls for one compose project, run in the host's network namespace."""

    def __init__(self, project: str, netns: str | None = None) -> None:
        self.project = project
        self.netns = netns

    def container(self, service: str) -> str:
        """podman-compose's container name for a service."""
        return service if service.startswith(f"{self.project}_") else f"{self.project}_{service}_1"

    def run(self, *args: str, check: bool = True, timeout: float = 60.0
            ) -> subprocess.CompletedProcess[str]:
        prefix = ["nsenter", f"--net={self.netns}"] if self.netns else []
        done = subprocess.run([*prefix, "podman", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise ProcessError(f"podman {' '.join(args)} failed ({done.returncode})",
                               (done.stdout + done.stderr)[-2000:])
        return done

    def status(self, service: str) -> str:
        done = self.run("inspect", "-f", "{{.State.Status}}", self.container(service),
                        check=False)
        return done.stdout.strip() if done.returncode == 0 else "missing"

    def addresses(self, services: tuple[str, ...] | list[str]) -> dict[str, str]:
        """{service: its current address on the compose network} for running containers."""
        names = [self.container(s) for s in services]
        fmt = "{{.Name}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        done = self.run("inspect", "-f", fmt, *names, check=False)
        by_name = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                by_name[parts[0].lstrip("/")] = parts[1]
        return {s: by_name[c] for s, c in zip(services, names, strict=True) if c in by_name}

    def logs(self, service: str) -> str:
        done = self.run("logs", self.container(service), check=False, timeout=120)
        return done.stdout + done.stderr

    def kill(self, service: str, sig: signal.Signals = signal.SIGKILL) -> None:
        self.run("kill", "--signal", sig.name, self.container(service))

    def stop(self, service: str, timeout: int = 10) -> None:
        self.run("stop", "-t", str(timeout), self.container(service), timeout=timeout + 60)

    def start(self, service: str) -> None:
        self.run("start", self.container(service), timeout=120)
