"""The whole native topology in one state dir: Redis Cluster, PostgreSQL, the services."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from devstack import mailcapture, redis_topology
from devstack import ports as portcheck
from devstack.binaries import MissingBinaryError
from devstack.config import StackConfig
from devstack.credentials import mfa_key_ring_entry, read_or_create_secret
from devstack.postgres import PROGRAM as POSTGRES_PROGRAM
from devstack.postgres import Postgres
from devstack.processes import DEAD_STATES, ProcessError, Supervisor
from devstack.redis_cluster import RedisCluster
from devstack.services import ORDER, Service, run_migrations, script_problem, wait_http_ok

# A single-page app's dev server (Vite's default port) may call the local stack, unless
# CORS_ALLOWED_ORIGINS in the environment says otherwise ("" turns CORS off).
DEV_SPA_ORIGINS = "http://localhost:5173,http://127.0.0.1:5173"


def json_log_lines(text: str, containing: str = "") -> list[dict[str, Any]]:
    """The JSON log lines of `text` that contain `containing`, parsed; a line that is not
    JSON comes back as {"_raw": line}. Natively and for containers alike."""
    result: list[dict[str, Any]] = []
    for line in text.splitlines():
        if containing not in line:
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        result.append(parsed if isinstance(parsed, dict) else {"_raw": line})
    return result

class StackError(ProcessError):
    """`up` failed; everything it started has been stopped again."""


class Stack:
    """Composes and controls the stack; `up()` is idempotent while it runs."""

    def __init__(self, config: StackConfig, *, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        state = config.state_dir
        self.supervisor = Supervisor(state)
        self.redis = RedisCluster(state / "data" / "redis", config.redis_ports, self.supervisor,
                                  autorestart=config.autorestart)
        self.postgres = Postgres(state, config.postgres_port, self.supervisor,
                                 autorestart=config.autorestart)
        self.internal_token = read_or_create_secret(state / "data" / "secrets" / "internal_token")
        # Signs device tokens: kept across restarts, so signed-in devices stay known.
        self.throttle_secret = read_or_create_secret(
            state / "data" / "secrets" / "throttle_secret")
        # Seals the user service's TOTP secrets: kept, or enrolled accounts could not sign in.
        self.mfa_keys = read_or_create_secret(state / "data" / "secrets" / "mfa_keys",
                                              mfa_key_ring_entry)
        self.keys_dir = state / "data" / "keys"
        self.mail_dir = state / "mail"  # the capture SMTP server's Maildir (new/*.eml)
        self.services = self._define_services()
        self.skipped: dict[str, str] = {}  # service -> why `up` did not start it

    # -- topology ----------------------------------------------------------------------
    def _define_services(self) -> dict[str, Service]:
        cfg = self.config
        jwks = f"http://127.0.0.1:{cfg.auth_port}/.well-known/jwks.json"
        user = Service("user-service", "user-service", cfg.user_port, {
            "DATABASE_URL": self.postgres.url, "JWKS_URL": jwks,
            "INTERNAL_API_TOKEN": self.internal_token, "LOG_LEVEL": "info",
            "INTERNAL_PORT": str(cfg.user_internal_port),
            "MFA_ENCRYPTION_KEYS": self.mfa_keys,
            **self.redis.service_env("user-service")},
            metrics_port=cfg.user_metrics_port)
        auth = Service("auth-service", "auth-service", cfg.auth_port, {
            **self.redis.service_env("auth-service"), "USER_SERVICE_URL": self.user_internal_url,
            "INTERNAL_API_TOKEN": self.internal_token, "JWT_KEYS_DIR": str(self.keys_dir),
            "THROTTLE_SECRET": self.throttle_secret,
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(cfg.smtp_port), "SMTP_TLS": "none",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{cfg.gateway_port}"},
            metrics_port=cfg.auth_metrics_port)
        gateway = Service("gateway", "gateway", cfg.gateway_port, {
            **self.redis.service_env("gateway"), "AUTH_SERVICE_URL": auth.url,
            "USER_SERVICE_URL": user.url, "JWKS_URL": jwks,
            "CORS_ALLOWED_ORIGINS": os.environ.get("CORS_ALLOWED_ORIGINS", DEV_SPA_ORIGINS)},
            metrics_port=cfg.gateway_metrics_port)
        services = {s.name: s for s in (user, auth, gateway)}
        for service in services.values():
            service.env = {"HOST": "127.0.0.1", "PORT": str(service.port),
                           "METRICS_HOST": "127.0.0.1",
                           "METRICS_PORT": str(service.metrics_port),
                           "ENVIRONMENT": "local", **service.env,
                           **cfg.env.get(service.name, {})}
        return services

    @property
    def gateway_url(self) -> str:
        return self.services["gateway"].url

    @property
    def auth_url(self) -> str:
        return self.services["auth-service"].url

    @property
    def user_url(self) -> str:
        return self.services["user-service"].url

    @property
    def user_internal_url(self) -> str:
        """Where the user service's internal API is (the auth service's USER_SERVICE_URL)."""
        port = self.config.user_internal_port or self.config.user_port
        return f"http://127.0.0.1:{port}"

    def metrics_url(self, name: str = "gateway") -> str:
        """The private metrics endpoint of service `name` (e.g. "gateway-<port>")."""
        return self.services[name].metrics_url

    def is_running(self) -> bool:
        return self.supervisor.is_running()

    # -- up ------------------------------------------------------------------------------
    def _busy_ports(self) -> list[str]:
        wanted = [(p, f"redis node {p}") for p in self.config.redis_ports]
        wanted += [(p + portcheck.CLUSTER_BUS_OFFSET, f"redis cluster bus of {p}")
                   for p in self.config.redis_ports]
        wanted.append((self.config.postgres_port, "postgres"))
        wanted.append((self.config.smtp_port, "mail (capture SMTP server)"))
        if self.config.user_internal_port:
            wanted.append((self.config.user_internal_port, "user-service internal API"))
        wanted += [(s.port, s.name) for s in self.services.values()]
        wanted += [(s.metrics_port, f"{s.name} metrics") for s in self.services.values()
                   if s.metrics_port]
        return [f"{port} ({what})" for port, what in wanted if portcheck.port_in_use(port)]

    def up(self) -> None:
        """Start everything in order, waiting on each step; on failure stop it all."""
        if self.is_running():
            return
        if busy := self._busy_ports():
            raise StackError("port(s) already in use: " + ", ".join(busy)
                             + "; stop what holds them or choose other ports (see devstack up -h)")
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.config.save()
        try:
            self._up()
        except (ProcessError, MissingBinaryError, OSError, subprocess.SubprocessError) as exc:
            tail = getattr(exc, "log_tail", "")
            self.supervisor.shutdown()
            raise StackError(str(exc).splitlines()[0] if str(exc) else repr(exc), tail) from exc
        except BaseException:  # Ctrl-C included: never leave half a stack behind
            self.supervisor.shutdown()
            raise

    def _up(self) -> None:
        cfg = self.config
        runnable = {}
        for name in ORDER:
            problem = script_problem(cfg.bin_dir, self.services[name].script)
            if problem:
                self.skipped[name] = problem
                self.echo(f"devstack: skipping {name}: {problem}")
            else:
                runnable[name] = self.services[name]
        self.postgres.prepare()  # initdb (first start) before supervisord needs the dir
        self.supervisor.add(*self.redis.programs(), self.postgres.program(),
                            mailcapture.program(cfg.smtp_port, self.mail_dir,
                                                autorestart=cfg.autorestart),
                            *(s.program(cfg.bin_dir, autorestart=cfg.autorestart)
                              for s in runnable.values()))
        self.supervisor.start_daemon()
        self._step(f"redis cluster on {_span(cfg.redis_ports)}", self.redis.start)
        self._step(f"postgres on {cfg.postgres_port}", self.postgres.start)
        self._step(f"mail capture on {cfg.smtp_port} ({self.mail_dir})", self._start_mail)
        if "user-service" in runnable:
            env = runnable["user-service"].env
            self._step("migrations (user-service migrate)", lambda: run_migrations(
                cfg.bin_dir, env, self.supervisor.log_path("migrate"), timeout=300))
        for service in runnable.values():
            self._step(f"{service.name} on {service.port}", partial(self._start, service))
        if set(runnable) == set(ORDER):
            self._step("gateway ready", lambda: wait_http_ok(
                f"{self.gateway_url}/health/ready", self.supervisor, "gateway",
                cfg.health_timeout))

    def _step(self, what: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        action()
        self.echo(f"devstack: {what}: ok ({time.monotonic() - started:.1f}s)")

    def _start_mail(self) -> None:
        self.supervisor.start(mailcapture.PROGRAM)
        try:
            mailcapture.wait_listening(
                self.config.smtp_port, self.config.health_timeout,
                alive=lambda: self.supervisor.state(mailcapture.PROGRAM) not in DEAD_STATES)
        except RuntimeError as exc:
            raise ProcessError(str(exc), self.supervisor.tail(mailcapture.PROGRAM)) from None

    def _start(self, service: Service) -> None:
        self.supervisor.start(service.name)
        wait_http_ok(f"{service.url}/health/live", self.supervisor, service.name,
                     self.config.health_timeout)

    # -- down / status ---------------------------------------------------------------------
    def down(self) -> list[int]:
        """Graceful shutdown of every program and supervisord; PIDs that had to be killed."""
        return self.supervisor.shutdown()

    def status_lines(self) -> list[str]:
        if not self.is_running():
            return [f"stack not running (state dir {self.config.state_dir})"]
        lines = [f"{i['name']:<16} {i['statename']:<9} {i['description']}"
                 for i in self.supervisor.all_info()]
        try:
            info = redis_topology.cluster_info((redis_topology.HOST, self.config.redis_ports[0]))
            lines.append(f"redis cluster: {info.get('cluster_state')}, "
                         f"{info.get('cluster_known_nodes')} nodes, "
                         f"roles {sorted(self.redis.roles().items())}")
        except Exception as exc:
            lines.append(f"redis cluster: unreachable ({exc})")
        return lines

    # -- extra processes and faults (tests) ------------------------------------------------
    def add_gateway(self, port: int | None = None, env: dict[str, str] | None = None) -> str:
        """Start one more gateway process (same Redis and upstreams); returns its URL."""
        port = port or portcheck.free_port()
        metrics_port = portcheck.free_ports(1, exclude=[port])[0]
        base = self.services["gateway"]
        extra = Service(f"gateway-{port}", "gateway", port,
                        {**base.env, "PORT": str(port), "METRICS_PORT": str(metrics_port),
                         **(env or {})}, metrics_port=metrics_port)
        self.services[extra.name] = extra
        self.supervisor.add(extra.program(self.config.bin_dir, autorestart=self.config.autorestart))
        self._start(extra)
        return extra.url

    def stop_service(self, name: str) -> None:
        self.supervisor.stop(name)

    def start_service(self, name: str) -> None:
        self._start(self.services[name])

    def restart_service(self, name: str) -> None:
        self.stop_service(name)
        self.start_service(name)

    def signal_program(self, name: str, sig: signal.Signals) -> None:
        """SIGKILL / SIGSTOP / SIGCONT any program ('gateway', 'redis-6379', 'postgres')."""
        self.supervisor.signal(name, sig)

    def service_command(self, name: str, *argv: str, timeout: float = 120.0
                        ) -> subprocess.CompletedProcess[str]:
        """A service's own CLI (`user-service create-admin ...`) with that service's
        environment, as an operator runs it on this stack."""
        service = self.services[name]
        return subprocess.run([str(self.config.bin_dir / service.script), *argv],
                              env={**os.environ, **service.env}, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def restart_postgres(self) -> None:
        self.postgres.restart()

    def log_tail(self, name: str, lines: int = 50) -> str:
        return self.supervisor.tail(name, lines)

    def log_lines(self, name: str, containing: str = "") -> list[dict[str, Any]]:
        """A program's JSON log lines (those containing `containing`), parsed.

        A line that is not JSON comes back as {"_raw": line}, so a test that expects
        structured logs fails on it instead of silently skipping it.
        """
        try:
            text = self.supervisor.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return []
        return json_log_lines(text, containing)


def _span(ports: list[int]) -> str:
    contiguous = ports == list(range(ports[0], ports[-1] + 1))
    return f"{ports[0]}-{ports[-1]}" if contiguous else ",".join(map(str, ports))


__all__ = ["POSTGRES_PROGRAM", "Stack", "StackConfig", "StackError"]
