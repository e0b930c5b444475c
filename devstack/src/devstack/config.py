"""Stack configuration: ports, state dir, per-service env overrides; env vars for the CLI."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.paths import default_state_dir
from devstack.redis_cluster import DEFAULT_PORTS


class ConfigError(ValueError):
    """An environment variable has a value we cannot use."""


@dataclass
class StackConfig:
    state_dir: Path = field(default_factory=default_state_dir)
    redis_ports: list[int] = field(default_factory=lambda: list(DEFAULT_PORTS))
    postgres_port: int = 5432
    auth_port: int = 8001
    user_port: int = 8002
    # The user service's internal API listener (its INTERNAL_PORT), which only the auth
    # service calls; 0: the internal API on user_port with the public routes.
    user_internal_port: int = 8003
    gateway_port: int = 3000
    # Each service's private metrics listener (METRICS_PORT), on 127.0.0.1 like the rest.
    gateway_metrics_port: int = 9100
    auth_metrics_port: int = 9101
    user_metrics_port: int = 9102
    # The capture SMTP server (devstack.mailcapture) the auth service sends mail to.
    smtp_port: int = 2525
    # True for `devstack up`; fault tests kill servers on purpose and want them to stay dead.
    autorestart: bool = True
    # Extra environment per service name ("gateway", "auth-service", "user-service").
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Where the services' console scripts live: this venv's bin dir.
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    health_timeout: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StackConfig:
        """STACK_DIR, REDIS_PORTS=6379-6384 (or a comma list), POSTGRES_PORT, AUTH_PORT,
        USER_PORT, USER_INTERNAL_PORT (0: none), GATEWAY_PORT, GATEWAY_METRICS_PORT,
        AUTH_METRICS_PORT, USER_METRICS_PORT, SMTP_PORT."""
        env = dict(os.environ if environ is None else environ)
        config = cls()
        if "STACK_DIR" in env:
            config.state_dir = Path(env["STACK_DIR"])
        if "REDIS_PORTS" in env:
            config.redis_ports = parse_port_list(env["REDIS_PORTS"])
        for var, attr in (("POSTGRES_PORT", "postgres_port"), ("AUTH_PORT", "auth_port"),
                          ("USER_PORT", "user_port"),
                          ("GATEWAY_PORT", "gateway_port"),
                          ("GATEWAY_METRICS_PORT", "gateway_metrics_port"),
                          ("AUTH_METRICS_PORT", "auth_metrics_port"),
                          ("USER_METRICS_PORT", "user_metrics_port"),
                          ("SMTP_PORT", "smtp_port")):
            if var in env:
                setattr(config, attr, _port(var, env[var]))
        if "USER_INTERNAL_PORT" in env:  # 0: the internal API on USER_PORT
            config.user_internal_port = _port("USER_INTERNAL_PORT", env["USER_INTERNAL_PORT"],
                                              zero_means_none=True)
        config.state_dir = config.state_dir.resolve()
        return config

    # Saved at `up` so `status` and `down` describe the stack that actually runs.
    def save(self) -> None:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        data["bin_dir"] = str(self.bin_dir)
        (self.state_dir / "stack.json").write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> StackConfig | None:
        try:
            data = json.loads((state_dir / "stack.json").read_text())
        except (OSError, ValueError):
            return None
        data["state_dir"] = Path(data["state_dir"])
        data["bin_dir"] = Path(data["bin_dir"])
        return cls(**data)


def _port(name: str, value: str, *, zero_means_none: bool = False) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a port number") from None
    if not (0 if zero_means_none else 1) <= port < 65536:
        raise ConfigError(f"{name}={value!r} is out of range")
    return port


def parse_port_list(value: str) -> list[int]:
    """'6379-6384' or '7000,7001,...' -> six ports."""
    if "-" in value and "," not in value:
        lo, hi = (_port("REDIS_PORTS", part.strip()) for part in value.split("-", 1))
        ports = list(range(lo, hi + 1))
    else:
        ports = [_port("REDIS_PORTS", part.strip()) for part in value.split(",") if part.strip()]
    if len(ports) != 6 or len(set(ports)) != 6:
        raise ConfigError(f"REDIS_PORTS={value!r} must name 6 distinct ports (e.g. 6379-6384)")
    if max(ports) + 10000 > 65535:
        raise ConfigError(f"REDIS_PORTS={value!r}: port + 10000 (cluster bus) must be < 65536")
    return ports
