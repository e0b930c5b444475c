"""Process management through supervisord: one daemon per state dir, one program per server.

supervisord gives us foreground children with log capture, per-program stop signals,
privilege dropping (PostgreSQL refuses root) and an XML-RPC API, so none of the PID
bookkeeping is hand-rolled here; we only keep PIDs to confirm that shutdown worked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from devstack.supervisord_conf import Program, render

__all__ = ["DEAD_STATES", "ProcessError", "Program", "Supervisor"]

# supervisord states that mean "the program is not going to become healthy".
DEAD_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "BACKOFF", "UNKNOWN"})


class ProcessError(RuntimeError):
    """A supervised program failed; the message is one line, the log tail separate."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class Supervisor:
    """One supervisord daemon whose socket, pidfile, config and logs live in state_dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.log_dir = state_dir / "logs"
        self.run_dir = state_dir / "run"
        self.conf_path = state_dir / "supervisord.conf"
        self.sock_path = self.run_dir / "supervisord.sock"
        self.pid_path = self.run_dir / "supervisord.pid"
        self.programs: dict[str, Program] = {}

    # -- configuration --------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def write_config(self) -> None:
        for path in (self.state_dir, self.log_dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(render(self.sock_path, self.pid_path, self.log_dir,
                                         self.state_dir, self.programs.values()))

    # -- daemon ---------------------------------------------------------------------
    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.sock_path}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def daemon_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def is_running(self) -> bool:
        if self.daemon_pid() is None:
            return False
        try:
            return cast(str, self.rpc().supervisor.getState()["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start_daemon(self, timeout: float = 15.0) -> None:
        self.write_config()
        if self.is_running():
            return
        supervisord = Path(sys.executable).parent / "supervisord"
        subprocess.run([str(supervisord), "-c", str(self.conf_path)], check=True)
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if time.monotonic() > deadline:
                raise ProcessError("supervisord did not start", self.tail("supervisord"))
            time.sleep(0.1)

    def add(self, *programs: Program) -> None:
        """Register programs; when the daemon runs, load them without touching the others."""
        for prog in programs:
            self.programs[prog.name] = prog
        self.write_config()
        if self.is_running():
            server = self.rpc()
            [[added, changed, _removed]] = server.supervisor.reloadConfig()
            for name in changed:
                self.stop(name)
                server.supervisor.removeProcessGroup(name)
            for name in [*added, *changed]:
                server.supervisor.addProcessGroup(name)

    # -- single programs -------------------------------------------------------------
    def info(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.rpc().supervisor.getProcessInfo(name))

    def all_info(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.rpc().supervisor.getAllProcessInfo())

    def state(self, name: str) -> str:
        return cast(str, self.info(name)["statename"])

    def pid(self, name: str) -> int:
        pid = int(self.info(name)["pid"])
        if pid == 0:
            raise ProcessError(f"{name} is not running")
        return pid

    def start(self, name: str) -> None:
        if self.state(name) not in ("RUNNING", "STARTING"):
            self.rpc().supervisor.startProcess(name, False)

    def stop(self, name: str) -> None:
        with contextlib.suppress(xmlrpc.client.Fault):  # NOT_RUNNING is fine
            self.rpc().supervisor.stopProcess(name, True)

    def signal(self, name: str, sig: signal.Signals) -> None:
        """Deliver a signal directly (SIGKILL, SIGSTOP, SIGCONT) to the program's PID."""
        os.kill(self.pid(name), sig)

    def kill(self, name: str, *, group: bool = False, timeout: float = 10.0) -> None:
        """SIGKILL (the whole process group if `group`) and wait until supervisord saw it die,
        so a following start() or state() does not race the reaping."""
        pid = self.pid(name)
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.info(name)["pid"] == pid and time.monotonic() < deadline:
            time.sleep(0.05)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self, name: str, what: str) -> None:
        state = self.state(name)
        if state in DEAD_STATES:
            raise ProcessError(f"{what} exited ({state}); log: {self.log_path(name)}",
                               self.tail(name))

    # -- shutdown --------------------------------------------------------------------
    def shutdown(self, timeout: float = 90.0) -> list[int]:
        """Stop every program (reverse priority) and supervisord; returns PIDs left alive."""
        daemon = self.daemon_pid()
        if daemon is None:
            return []
        child_pids: list[int] = []
        with contextlib.suppress(OSError, xmlrpc.client.Fault):
            child_pids = [int(i["pid"]) for i in self.all_info() if i["pid"]]
            for pid in child_pids:  # a SIGSTOPped program cannot handle its stop signal
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)
            self.rpc().supervisor.shutdown()
        deadline = time.monotonic() + timeout
        pids = [daemon, *child_pids]
        while _alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = _alive(pids)
        for pid in leftovers:  # last resort, by PID (and group: postgres backends)
            with contextlib.suppress(OSError):
                if pid == daemon:
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.killpg(pid, signal.SIGKILL)
        return leftovers


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            # Reap if it is our child (supervisord parent exits at once, so rarely).
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        if _is_zombie(pid):
            continue
        alive.append(pid)
    return alive


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
