"""Extra service containers next to the compose stack, for the tests that natively start
their own processes (a second gateway, a security suite's stack with its own settings).

A replica is a copy of a compose service's container (its image, environment and bind
mounts) with some settings changed and its own ports, started in the load balancer
container's network namespace: the tests run there (infra/ci/test-compose.sh), so their
clients, bound to per-test addresses in 127.0.0.0/8, reach it on its loopback exactly as
they reach a native process (the socket peer is the client: a replica gateway trusts only
the balancer's compose address, never the loopback), and it reaches the rest of the compose
network as the balancer does. Replicas carry the compose project's label (teardown finds
them) and REPLICA_LABEL (teardown removes them before the balancer whose namespace they
share)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from devstack import ports
from devstack.processes import ProcessError
from devstack.redis_topology import until
from devstack.stack import json_log_lines
from devstack.testkit.podman import Podman

REPLICA_LABEL = "io.authstack.netns-guest"
NETNS_OWNER = "lb"  # the compose service whose network namespace the tests run in
# The gateway services behind the balancer (deploy/compose.yml); a "gateway" replica is a
# copy of the first.
GATEWAYS = ("gateway-1", "gateway-2")
BASE_SERVICE = {"gateway": GATEWAYS[0]}  # the compose service a replica of a kind copies
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Replica:
    name: str  # as the tests name it ("gateway-12345"); its container is podman's name
    container: str
    port: int
    metrics_port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"


class Replicas:
    """Starts and removes the replicas of one compose project."""

    def __init__(self, podman: Podman) -> None:
        self.podman = podman
        self._running: dict[str, Replica] = {}

    def get(self, name: str) -> Replica | None:
        return self._running.get(name)

    def inspect(self, service: str) -> dict[str, Any]:
        done = self.podman.run("inspect", "--type", "container", self.podman.container(service))
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[0]

    def env_of(self, service: str) -> dict[str, str]:
        """A container's environment (the image's and compose's)."""
        config = self.inspect(service)["Config"]
        return dict(line.split("=", 1) for line in config.get("Env") or [] if "=" in line)

    def start(self, base_container: str, kind: str, env: dict[str, str], *,
              port: int | None = None, ready_path: str = "/health/ready",
              timeout: float = 90.0) -> Replica:
        """One more container like `base_container` (a compose service or a container name)
        with `env` over its settings, on `port` (free by default) and a free metrics port,
        named `<kind>-<port>` as natively; waits for `ready_path` on its port."""
        base = self.inspect(base_container)
        port = port or ports.free_port()
        metrics_port = ports.free_port(exclude=[port])
        name = f"{kind}-{port}"
        container = self.podman.container(name)
        settings = {**dict(line.split("=", 1) for line in base["Config"].get("Env") or []
                           if "=" in line),
                    **env, "PORT": str(port), "METRICS_PORT": str(metrics_port)}
        mounts = [f"{m['Source']}:{m['Destination']}" + ("" if m.get("RW", True) else ":ro")
                  for m in base.get("Mounts") or [] if m.get("Type") == "bind"]
        pod = base.get("Pod") or ""
        with _env_file(settings) as env_file:
            self.podman.run(
                "run", "-d", "--name", container,
                "--label", f"io.podman.compose.project={self.podman.project}",
                "--label", f"{REPLICA_LABEL}=1",
                *(["--pod", pod] if pod else []),
                "--network", f"container:{self.podman.container(NETNS_OWNER)}",
                *(arg for mount in mounts for arg in ("-v", mount)),
                "--env-file", env_file, "--no-healthcheck", base["Image"], timeout=120)
        replica = Replica(name, container, port, metrics_port)
        self._running[name] = replica
        try:
            until(lambda: self._ready(replica, ready_path), timeout, f"{name} {ready_path}",
                  interval=0.5)
        except ProcessError as exc:
            raise ProcessError(str(exc), self.podman.logs(container)[-3000:]) from None
        return replica

    def _ready(self, replica: Replica, path: str) -> bool:
        if self.podman.status(replica.container) not in ("running", "created", "configured"):
            raise ProcessError(f"{replica.name} exited", self.podman.logs(replica.container))
        try:
            return httpx.get(replica.url + path, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def remove(self, name: str) -> None:
        replica = self._running.pop(name)
        self.podman.run("rm", "-f", "-t", "5", replica.container, check=False)

    def remove_all(self) -> None:
        for name in list(self._running):
            self.remove(name)


@contextmanager
def _env_file(env: dict[str, str]) -> Iterator[str]:
    """The settings as an env file only we can read (they hold the stack's secrets)."""
    with tempfile.TemporaryDirectory(prefix="authstack-replica-") as directory:
        path = os.path.join(directory, "env")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
            out.write("".join(f"{key}={value}\n" for key, value in env.items()))
        yield path


class ReplicaStack:
    """A stack of replicas with a suite's own settings (what `start_stack(env)` is natively):
    a user service, an auth service calling it and a gateway in front of both, all on the
    compose stack's Redis, PostgreSQL and JWT keys. The handle offers what the suites use of
    a native `Stack`: the three URLs, `keys_dir`, `log_lines`, `service_command`,
    `add_gateway`."""

    def __init__(self, replicas: Replicas, env: dict[str, dict[str, str]],
                 prefix: str = "stack") -> None:
        self.replicas = replicas
        self._by_service: dict[str, Replica] = {}
        user_internal = ports.free_port()
        user = self._start("user-service", {**env.get("user-service", {}),
                                            "INTERNAL_PORT": str(user_internal)})
        self.user_internal_url = f"http://{LOOPBACK}:{user_internal}"
        auth_base = replicas.env_of("auth-service")
        auth = self._start("auth-service", {
            **env.get("auth-service", {}), "USER_SERVICE_URL": self.user_internal_url,
            # Its gateway calls it over the loopback, as natively (the default there).
            "TRUSTED_PROXIES": ",".join(filter(None, (auth_base.get("TRUSTED_PROXIES"),
                                                      "127.0.0.0/8")))})
        # Buckets of its own, as a native stack's own Redis gives it: the suite's limits
        # (or its traffic from 127.0.0.1, where clients bind no address) never reach the
        # compose gateway's buckets (the gateway's ACL allows keys under rl:).
        self._start("gateway", {"RATE_LIMIT_KEY_PREFIX": f"rl:{prefix}",
                                **env.get("gateway", {}), "AUTH_SERVICE_URL": auth.url,
                                "USER_SERVICE_URL": user.url})
        # The auth service's key directory as the host sees it (a bind mount).
        keys = auth_base.get("JWT_KEYS_DIR", "")
        sources = {m["Destination"]: m["Source"]
                   for m in replicas.inspect("auth-service").get("Mounts") or []}
        self.keys_dir = sources.get(keys, keys)

    def _start(self, service: str, env: dict[str, str]) -> Replica:
        ready = "/health/ready" if service == "gateway" else "/health/live"
        # Untraced, as a native `start_stack(env)` is (a traced one adds trace_id to bodies).
        replica = self.replicas.start(BASE_SERVICE.get(service, service), service,
                                      {"OTEL_SDK_DISABLED": "true", **env}, ready_path=ready)
        self._by_service[service] = replica
        return replica

    @property
    def gateway_url(self) -> str:
        return self._by_service["gateway"].url

    @property
    def auth_url(self) -> str:
        return self._by_service["auth-service"].url

    @property
    def user_url(self) -> str:
        return self._by_service["user-service"].url

    def metrics_url(self, name: str = "gateway") -> str:
        replica = self._by_service.get(name) or self.replicas.get(name)
        if replica is None:
            raise KeyError(name)
        return replica.metrics_url

    def log_lines(self, name: str, containing: str = "") -> list[dict[str, Any]]:
        replica = self._by_service.get(name) or self.replicas.get(name)
        if replica is None:
            raise KeyError(name)
        return json_log_lines(self.replicas.podman.logs(replica.container), containing)

    def service_command(self, name: str, *argv: str, timeout: float = 120.0
                        ) -> subprocess.CompletedProcess[str]:
        """A service's own CLI in its replica, as an operator runs it (`podman exec`)."""
        return self.replicas.podman.run("exec", self._by_service[name].container, name, *argv,
                                        check=False, timeout=timeout)

    def add_gateway(self, port: int | None = None, env: dict[str, str] | None = None) -> str:
        return self.replicas.start(self._by_service["gateway"].container, "gateway",
                                   env or {}, port=port).url

    def close(self) -> None:
        for replica in self._by_service.values():
            if self.replicas.get(replica.name):
                self.replicas.remove(replica.name)
        self._by_service.clear()
