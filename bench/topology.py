"""Everything the bench runs, on free ports in one temp state dir, under one supervisord:
the devstack (Redis Cluster, PostgreSQL, the three services), extra gateways for the
attribution variants and W5, a fast-hashing auth instance for seeding, nginx (R1) and the
naive proxy (R2). `close()` stops all of it (supervisord, then PIDs as a last resort)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config import StackConfig
from devstack.ports import free_port, free_ports
from devstack.postgres import PROGRAM as POSTGRES_PROGRAM
from devstack.processes import Program
from devstack.services import Service, wait_http_ok
from devstack.stack import Stack

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

# Gateway variants: name -> env on top of the main gateway's (which has the high limit).
GATEWAY_VARIANTS = {
    "gateway_norl": {"RATE_LIMIT_ENABLED": "false"},
    "gateway_nojwt": {"JWT_ENABLED": "false"},
    "gateway_bare": {"RATE_LIMIT_ENABLED": "false", "JWT_ENABLED": "false"},
    # W5: the default policy (30 per 60 s), its own key prefix.
    "gateway_w5": {"RATE_LIMIT_REQUESTS": "30", "RATE_LIMIT_WINDOW_SECONDS": "60",
                   "RATE_LIMIT_KEY_PREFIX": "rl:w5"},
}
# Seeding only: cheap argon2 so 1,000 users register in seconds, and tokens that outlive
# the run (the gateway caches a verified token until its exp).
SEED_AUTH_ENV = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "64",
                 "ARGON2_PARALLELISM": "1", "ACCESS_TOKEN_TTL_SECONDS": "7200"}


@dataclass
class Topology:
    high_limit: int
    echo: object = print
    workdir: Path = field(init=False)
    stack: Stack = field(init=False)
    urls: dict[str, str] = field(default_factory=dict)
    programs: dict[str, str] = field(default_factory=dict)  # target -> supervisor program

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-"))
        self.workdir.chmod(0o711)  # the unprivileged postgres user must traverse it
        redis_ports = free_ports(6, with_bus=True)
        exclude = [*redis_ports, *(p + 10000 for p in redis_ports)]
        pg, auth, user, user_internal, gateway, *metrics = free_ports(8, exclude=exclude)
        # The built-in credential buckets (login 10 per 60 s per client IP) stay on: the
        # login storm walks BENCH_XFF (10,000) addresses in turn (one wrk thread), so an
        # address sends at most one login per run, and the bench measures the gateway as
        # shipped.
        gateway_env = {"TRUSTED_PROXIES": "127.0.0.1/32",
                       "RATE_LIMIT_REQUESTS": str(self.high_limit),
                       "RATE_LIMIT_WINDOW_SECONDS": "60"}
        config = StackConfig(state_dir=self.workdir / "stack", redis_ports=redis_ports,
                             postgres_port=pg, auth_port=auth, user_port=user,
                             user_internal_port=user_internal,
                             gateway_port=gateway, gateway_metrics_port=metrics[0],
                             auth_metrics_port=metrics[1], user_metrics_port=metrics[2],
                             autorestart=False, env={"gateway": gateway_env}, health_timeout=90)
        self.stack = Stack(config, echo=self._echo)

    def _echo(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # -- start -------------------------------------------------------------------------
    def up(self) -> None:
        self.stack.up()
        self.urls.update(gateway=self.stack.gateway_url, direct=self.stack.user_url,
                         auth=self.stack.auth_url)
        self.programs.update(gateway="gateway", direct="user-service")
        for name, env in GATEWAY_VARIANTS.items():
            url = self.stack.add_gateway(env=env)
            self.urls[name] = url
            self.programs[name] = f"gateway-{url.rsplit(':', 1)[1]}"
        self.urls["auth_seed"] = self._add_service("auth-seed", "auth-service", SEED_AUTH_ENV)
        self._start_nginx()
        self._start_naive()

    def _add_service(self, name: str, script: str, env: dict[str, str]) -> str:
        port, metrics_port = free_ports(2)
        base = self.stack.services[script]
        service = Service(name, script, port, {**base.env, "PORT": str(port),
                                               "METRICS_PORT": str(metrics_port), **env},
                          metrics_port=metrics_port)
        self.stack.services[name] = service
        sup = self.stack.supervisor
        sup.add(service.program(self.stack.config.bin_dir, autorestart=False))
        sup.start(name)
        wait_http_ok(f"{service.url}/health/ready", sup, name, 60)
        return service.url

    def stop_seed_auth(self) -> None:
        self.stack.supervisor.stop("auth-seed")

    def _start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        state = self.workdir / "nginx"
        state.mkdir()
        state.chmod(0o755)
        port = free_port()
        cfg = self.stack.config
        text = _render((BENCH_DIR / "nginx.conf.template").read_text(),
            user_directive="user nobody nogroup;" if _is_root() else "",
            state_dir=state, port=port, user_port=cfg.user_port, auth_port=cfg.auth_port,
            limit_rate=self.high_limit, limit_burst=1000)
        conf = state / "nginx.conf"
        conf.write_text(text)
        self._add_program(Program(name="nginx", argv=[nginx, "-p", str(state), "-c", str(conf)],
                                  stopsignal="QUIT", stopwaitsecs=10, stopasgroup=True,
                                  priority=600))
        self.urls["nginx"] = f"http://127.0.0.1:{port}"
        self.programs["nginx"] = "nginx"
        wait_http_ok(f"{self.urls['nginx']}/.well-known/jwks.json", self.stack.supervisor,
                     "nginx", 30)

    def _start_naive(self) -> None:
        port = free_port()
        cfg = self.stack.config
        argv = [sys.executable, "-m", "uvicorn", "bench.naive_proxy:app", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
                "warning"]
        self._add_program(Program(
            name="naive-proxy", argv=argv, directory=REPO_ROOT, stopasgroup=True, priority=600,
            env={"NAIVE_AUTH_URL": f"http://127.0.0.1:{cfg.auth_port}",
                 "NAIVE_USER_URL": f"http://127.0.0.1:{cfg.user_port}"}))
        self.urls["naive"] = f"http://127.0.0.1:{port}"
        self.programs["naive"] = "naive-proxy"
        wait_http_ok(f"{self.urls['naive']}/.well-known/jwks.json", self.stack.supervisor,
                     "naive-proxy", 30)

    def _add_program(self, program: Program) -> None:
        sup = self.stack.supervisor
        sup.add(program)
        sup.start(program.name)

    # -- introspection -----------------------------------------------------------------
    def pid(self, program: str) -> list[int]:
        try:
            return [self.stack.supervisor.pid(program)]
        except Exception:
            return []

    def cpu_groups(self, target: str) -> dict[str, object]:
        """Component -> root pids, with `gateway` = the process under test for `target`."""
        groups: dict[str, object] = {
            "gateway": lambda: self.pid(self.programs[target])
            if target.startswith("gateway") else [],
            "user-service": lambda: self.pid("user-service"),
            "auth-service": lambda: self.pid("auth-service"),
            "postgres": lambda: self.pid(POSTGRES_PROGRAM),
            "nginx": lambda: self.pid("nginx"),
            "naive-proxy": lambda: self.pid("naive-proxy"),
        }
        for port in self.stack.config.redis_ports:
            groups[f"redis-{port}"] = (lambda p=port: self.pid(f"redis-{p}"))
        return groups

    def command_lines(self) -> dict[str, str]:
        lines = {}
        for info in self.stack.supervisor.all_info():
            if info["pid"]:
                try:
                    raw = Path(f"/proc/{info['pid']}/cmdline").read_bytes()
                    lines[info["name"]] = " ".join(p.decode() for p in raw.split(b"\0") if p)
                except OSError:
                    pass
        return lines

    def close(self, keep: bool = False) -> None:
        leftovers = self.stack.down()
        if leftovers:
            self._echo(f"bench: had to kill {leftovers}")
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _render(template: str, **values: object) -> str:
    """Fill ${name} placeholders (nginx's own $variables have no braces)."""
    for key, value in values.items():
        template = template.replace("${" + key + "}", str(value))
    if "${" in template:
        raise ValueError("unfilled placeholder in nginx.conf.template")
    return template


def _is_root() -> bool:
    import os
    return os.geteuid() == 0
