"""Fault injection and log reading against the compose stack (podman), behind the same
interface the native stack offers (`FaultTarget`): tests/e2e/faults run unchanged on either.

A Redis node is named by its compose service ("redis-1" ... "redis-6") where the native
cluster uses its port. Every podman command runs in the host's network namespace
(`E2E_PODMAN_NETNS`): the tests themselves run inside the load balancer container's namespace (see
infra/ci/test-compose.sh), and `podman start` must wire a container's veth to the host's
bridge, not to the balancer's. Redis and PostgreSQL are reached at their container addresses,
which every container of the compose network (the balancer's included) can reach; a container
may get a new address when it starts again, so addresses are looked up, never remembered
across a start.

Configuration (set by infra/ci/test-compose.sh): E2E_COMPOSE_PROJECT, E2E_GATEWAY_URL,
E2E_COMPOSE_GATEWAY (the container behind E2E_GATEWAY_URL; by default E2E_GATEWAY_URL is the
load balancer, and "gateway" means both gateway services behind it),
E2E_POSTGRES_PASSWORD, E2E_REDIS_ADMIN_PASSWORD (the Redis nodes' admin user, for the
topology reads and faults), E2E_PODMAN_NETNS."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from devstack import ports, redis_topology
from devstack.processes import ProcessError
from devstack.redis_acl import ADMIN, Login
from devstack.redis_faults import ClusterFaults
from devstack.redis_topology import Address, ClusterNode, until
from devstack.stack import json_log_lines
from devstack.testkit.compose_replicas import (
    GATEWAYS,
    LOOPBACK,
    NETNS_OWNER,
    Replicas,
    ReplicaStack,
)
from devstack.testkit.podman import Podman

if TYPE_CHECKING:
    from devstack.stack import Stack
    from devstack.testkit.faults import FaultTarget, RedisFaults

REDIS_NODES = tuple(f"redis-{i}" for i in range(1, 7))
REDIS_PORT = 6379
SERVICES = ("gateway", "auth-service", "user-service")


# -- Redis Cluster in containers ----------------------------------------------------------------
class ComposeCluster(ClusterFaults[str]):
    """The six `redis-N` services; a node is named by its service and reached at its
    container's current address."""

    def __init__(self, podman: Podman) -> None:
        super().__init__()
        self.podman = podman
        self.ports = list(REDIS_NODES)
        self._addresses: dict[str, str] = {}

    def program_name(self, node: str) -> str:
        return self.podman.container(node)

    def address(self, node: str) -> Address:
        if node not in self._addresses:
            self._addresses.update(self.podman.addresses(REDIS_NODES))
        if node not in self._addresses:
            raise ProcessError(f"{node} has no address (not running)")
        return (self._addresses[node], REDIS_PORT)

    def node_of(self, entry: ClusterNode) -> str | None:
        by_address = {address: name for name, address in self._addresses.items()}
        if entry.host not in by_address:
            self._addresses.update(self.podman.addresses(REDIS_NODES))
            by_address = {address: name for name, address in self._addresses.items()}
        return by_address.get(entry.host)

    def _stop(self, node: str) -> None:
        self.podman.stop(node)

    def _kill(self, node: str) -> None:
        """SIGKILL the node's container (podman does not restart what it killed)."""
        self.podman.kill(node, signal.SIGKILL)

    def _signal(self, node: str, sig: signal.Signals) -> None:
        # To redis-server, the container's PID 1: SIGSTOP leaves its sockets open.
        self.podman.kill(node, sig)

    def _start(self, node: str) -> None:
        if self.podman.status(node) != "running":
            self.podman.start(node)
        self._addresses.pop(node, None)  # a new container address, most likely


# -- PostgreSQL and the services ------------------------------------------------------------------
class ComposePostgres:
    def __init__(self, podman: Podman, password: str) -> None:
        self.podman, self.password = podman, password

    @property
    def dsn(self) -> str:
        address = self.podman.addresses(["postgres"]).get("postgres")
        if not address:
            raise ProcessError("the postgres container is not running")
        return f"postgresql://authstack:{self.password}@{address}:5432/authstack"

    def stop(self) -> None:
        """Fast shutdown (the image's STOPSIGNAL, SIGINT); podman does not restart it."""
        self.podman.stop("postgres")

    def kill(self) -> None:
        self.podman.kill("postgres")

    def start(self, timeout: float = 60.0) -> None:
        if self.podman.status("postgres") != "running":
            self.podman.start("postgres")

        def ready() -> bool:
            done = self.podman.run("exec", self.podman.container("postgres"), "pg_isready",
                                   "-q", "-h", "127.0.0.1", "-p", "5432", "-d", "postgres",
                                   check=False)
            return done.returncode == 0

        until(ready, timeout, "postgres to accept connections", interval=0.3)

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)


class ComposeSupervisor:
    """Native `Supervisor.state`/`kill` semantics over containers. Natively autorestart is
    off, so a crashed program stays down; here the restart policy would bring it back, so a
    container the engine restarted since this handle was made is reported "RESTARTED"."""

    def __init__(self, podman: Podman, aliases: dict[str, str]) -> None:
        self.podman, self.aliases = podman, aliases
        self._restarts = {name: count for name, (_, count) in self._inspect(
            [*SERVICES, "postgres", *REDIS_NODES]).items()}

    def _container(self, name: str) -> str:
        return self.podman.container(self.aliases.get(name, name))

    def _inspect(self, names: list[str]) -> dict[str, tuple[str, int]]:
        containers = [self._container(n) for n in names]
        done = self.podman.run("inspect", "-f", "{{.Name}} {{.State.Status}} {{.RestartCount}}",
                               *containers, check=False)
        found = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                found[parts[0].lstrip("/")] = (parts[1], int(parts[2]))
        return {n: found[c] for n, c in zip(names, containers, strict=True) if c in found}

    def state(self, name: str) -> str:
        status, restarts = self._inspect([name]).get(name, ("missing", 0))
        if status != "running":
            return status.upper()
        return "RUNNING" if restarts == self._restarts.get(name, 0) else "RESTARTED"

    def kill(self, name: str, *, group: bool = False, timeout: float = 10.0) -> None:
        self.podman.kill(self._container(name))


class ComposeStack:
    """The compose stack as a `FaultTarget` (and, for log reading, in place of `stack`).

    What natively is one more process (`add_gateway`, the user service's own port as the
    tests reach it, a suite's stack with its own settings) is a replica container in the
    load balancer's network namespace (devstack.testkit.compose_replicas), removed by `close`."""

    def __init__(self, project: str, gateway_url: str, *, gateway_container: str = "",
                 postgres_password: str = "", redis_admin_password: str = "",
                 netns: str | None = None) -> None:
        self.podman = Podman(project, netns)
        self._gateway_url = gateway_url.rstrip("/")
        # "gateway" means the gateway behind gateway_url: one container (the fault phase
        # runs its own), or by default the balancer's gateways, whose logs are read
        # together (a request may have gone to either) and the first of which is the one a
        # fault, a metrics read or `add_gateway` means.
        self.balanced_gateways: tuple[str, ...] = () if gateway_container else GATEWAYS
        self.aliases = {"gateway": gateway_container or GATEWAYS[0]}
        self._redis = ComposeCluster(self.podman)
        if redis_admin_password:  # the containers' addresses change: one login for any
            redis_topology.remember_login(Login(ADMIN, redis_admin_password))
        self._postgres = ComposePostgres(self.podman, postgres_password)
        self._supervisor = ComposeSupervisor(self.podman, self.aliases)
        self.replicas = Replicas(self.podman)
        self._user_replica: str | None = None

    @classmethod
    def from_env(cls) -> ComposeStack:
        return cls(os.environ["E2E_COMPOSE_PROJECT"], os.environ["E2E_GATEWAY_URL"],
                   gateway_container=os.environ.get("E2E_COMPOSE_GATEWAY") or "",
                   postgres_password=os.environ.get("E2E_POSTGRES_PASSWORD", ""),
                   redis_admin_password=os.environ.get("E2E_REDIS_ADMIN_PASSWORD", ""),
                   netns=os.environ.get("E2E_PODMAN_NETNS") or None)

    @property
    def gateway_url(self) -> str:
        return self._gateway_url

    @property
    def redis(self) -> ComposeCluster:
        return self._redis

    @property
    def postgres(self) -> ComposePostgres:
        return self._postgres

    @property
    def supervisor(self) -> ComposeSupervisor:
        return self._supervisor

    def service_command(self, name: str, *argv: str, timeout: float = 120.0
                        ) -> subprocess.CompletedProcess[str]:
        """A service's own CLI (`user-service create-admin ...`) inside its container, as
        an operator runs it: `podman exec <container> <name> <argv>`."""
        return self.podman.run("exec", self.podman.container(name), name, *argv,
                               check=False, timeout=timeout)

    def log_lines(self, name: str, containing: str = "") -> list[dict[str, Any]]:
        """A container's JSON log lines (those containing `containing`), parsed; a line
        that is not JSON comes back as {"_raw": line}, as natively."""
        replica = self.replicas.get(name)
        if replica:
            return json_log_lines(self.podman.logs(replica.container), containing)
        if name == "gateway" and self.balanced_gateways:
            return [line for gateway in self.balanced_gateways
                    for line in json_log_lines(self.podman.logs(gateway), containing)]
        return json_log_lines(self.podman.logs(self.aliases.get(name, name)), containing)

    # -- extra processes (replica containers) ----------------------------------------------
    def add_gateway(self, port: int | None = None, env: dict[str, str] | None = None) -> str:
        """One more gateway like the one behind `gateway_url` (same Redis and upstreams),
        `env` over its settings; named `gateway-<port>` as natively. Returns its URL."""
        return self.replicas.start(self.aliases["gateway"], "gateway", env or {},
                                   port=port).url

    def stop_service(self, name: str) -> None:
        """A replica is removed; a compose service's container is stopped."""
        if self.replicas.get(name):
            self.replicas.remove(name)
        else:
            self.podman.stop(self.aliases.get(name, name))

    @property
    def user_url(self) -> str:
        """The user service's public port where the tests' clients reach it: a replica of
        the user-service container (its own revocation feed, as every replica has), started
        at first use; the compose one listens in a namespace the tests' loopback clients
        cannot reach."""
        if self._user_replica is None:
            self._user_replica = self.replicas.start(
                "user-service", "user-service",
                {"INTERNAL_PORT": str(ports.free_port())}, ready_path="/health/live").name
        replica = self.replicas.get(self._user_replica)
        assert replica is not None
        return replica.url

    def metrics_url(self, name: str = "gateway") -> str:
        """A service's private metrics endpoint: a replica's, or a compose container's at
        its METRICS_PORT (on the loopback when it shares the tests' namespace)."""
        replica = self.replicas.get(name)
        if replica:
            return replica.metrics_url
        container = self.aliases.get(name, name)
        inspected = self.replicas.inspect(container)
        env = dict(line.split("=", 1) for line in inspected["Config"].get("Env") or []
                   if "=" in line)
        shares_ours = (container == NETNS_OWNER
                       or str(inspected["HostConfig"].get("NetworkMode", "")).startswith(
                           "container:"))
        host = LOOPBACK if shares_ours else self.podman.addresses([container]).get(container)
        if not host or not env.get("METRICS_PORT", "0").strip("0"):
            raise ProcessError(f"{name} has no metrics listener the tests can reach")
        return f"http://{host}:{env['METRICS_PORT']}/metrics"

    @contextmanager
    def own_stack(self, env: dict[str, dict[str, str]] | None = None,
                  prefix: str = "stack") -> Iterator[ReplicaStack]:
        """`start_stack(env)` on compose: replicas of the three services with `env`."""
        stack = ReplicaStack(self.replicas, env or {}, prefix)
        try:
            yield stack
        finally:
            stack.close()

    def close(self) -> None:
        self.replicas.remove_all()


def _conforms(native: Stack, compose: ComposeStack
              ) -> tuple[FaultTarget, FaultTarget, RedisFaults[int], RedisFaults[str]]:
    """Never called: mypy checks here that both targets satisfy the protocols."""
    return native, compose, native.redis, compose.redis
