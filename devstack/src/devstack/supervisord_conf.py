"""supervisord.conf rendering: what each supervised program is and how it is stopped."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Program:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    stopsignal: str = "TERM"
    stopwaitsecs: int = 10
    user: str | None = None
    priority: int = 100
    autorestart: bool = False
    # Kill the whole process group on SIGKILL so no orphan (e.g. a postgres backend)
    # survives; stopasgroup only for programs whose children do not handle it themselves.
    stopasgroup: bool = False
    startsecs: int = 0


def _quote(value: str) -> str:
    # supervisord reads its file with ConfigParser interpolation: '%' must be doubled.
    return value.replace("%", "%%")


def _env_line(env: dict[str, str]) -> str:
    items = []
    for key, value in env.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        items.append(f'{key}="{_quote(escaped)}"')
    return ",".join(items)



def render(sock_path: Path, pid_path: Path, log_dir: Path, state_dir: Path,
           programs: Iterable[Program]) -> str:
    """The supervisord.conf text: unix socket + pidfile in the state dir, one program each."""
    lines = [
        "[unix_http_server]",
        f"file={_quote(str(sock_path))}",
        "chmod=0700",
        "",
        "[supervisord]",
        f"pidfile={_quote(str(pid_path))}",
        f"logfile={_quote(str(log_dir / 'supervisord.log'))}",
        "logfile_maxbytes=5MB",
        "logfile_backups=1",
        f"directory={_quote(str(state_dir))}",
        "nodaemon=false",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_quote(str(sock_path))}",
    ]
    for prog in programs:
        lines += [
            "",
            f"[program:{prog.name}]",
            f"command={_quote(shlex.join(prog.argv))}",
            f"priority={prog.priority}",
            "autostart=false",
            f"autorestart={'true' if prog.autorestart else 'false'}",
            f"startsecs={prog.startsecs}",
            "startretries=3",
            f"stopsignal={prog.stopsignal}",
            f"stopwaitsecs={prog.stopwaitsecs}",
            f"stopasgroup={'true' if prog.stopasgroup else 'false'}",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=" + _quote(str(log_dir / f"{prog.name}.log")),
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
        ]
        if prog.env:
            lines.append(f"environment={_env_line(prog.env)}")
        if prog.directory is not None:
            lines.append(f"directory={_quote(str(prog.directory))}")
        if prog.user is not None:
            lines.append(f"user={prog.user}")
    return "\n".join(lines) + "\n"

