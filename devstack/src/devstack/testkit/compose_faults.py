"""Fault injection and log reading against the compose stack (podman), behind the same
interface the native stack offers (`FaultTarget`): tests/e2e/faults run unchanged on either.

A Redis node is named by its compose service ("redis-1" ... "redis-6") where the native
cluster uses its port. Every podman command runs in the host's network namespace
(`E2E_PODMAN_NETNS`): the tests themselves run inside the gateway container's namespace (see
infra/ci/test-compose.sh), and `podman start` must wire a container's veth to the host's
bridge, not to the gateway's. Redis and PostgreSQL are reached at their container addresses,
which every container of the compose network (the gateway's included) can reach; a container
may get a new address when it starts again, so addresses are looked up, never remembered
across a start.

Configuration (set by infra/ci/test-compose.sh): E2E_COMPOSE_PROJECT, E2E_GATEWAY_URL,
E2E_COMPOSE_GATEWAY (the container behind E2E_GATEWAY_URL, default the gateway service),
E2E_POSTGRES_PASSWORD, E2E_PODMAN_NETNS."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import redis

from devstack.processes import ProcessError
from devstack.redis_topology import slot_for_key
from devstack.stack import json_log_lines

if TYPE_CHECKING:
    from devstack.stack import Stack

N = TypeVar("N")

REDIS_NODES = tuple(f"redis-{i}" for i in range(1, 7))
REDIS_PORT = 6379
SERVICES = ("gateway", "auth-service", "user-service")


# -- the interface both targets offer --------------------------------------------------------
class RedisFaults(Protocol[N]):
    """What a fault test does to the Redis Cluster; `N` names a node (native: its port)."""

    @property
    def ports(self) -> list[N]: ...
    def program_name(self, node: N) -> str: ...
    def master_for_key(self, key: str) -> N: ...
    def roles(self) -> dict[N, str]: ...
    def masters(self) -> list[N]: ...
    def kill_node(self, node: N) -> None: ...
    def stop_node(self, node: N) -> None: ...
    def pause_node(self, node: N) -> None: ...
    def resume_node(self, node: N) -> None: ...
    def start_node(self, node: N, timeout: float = 30.0) -> None: ...
    def wait_for_failover(self, old_master: N, timeout: float = 30.0) -> N: ...
    def wait_for_replica(self, node: N, timeout: float = 30.0) -> None: ...
    def wait_healthy(self, timeout: float = 60.0) -> None: ...


class PostgresFaults(Protocol):
    @property
    def dsn(self) -> str: ...
    def stop(self) -> None: ...
    def start(self, timeout: float = 60.0) -> None: ...
    def restart(self, timeout: float = 60.0) -> None: ...


class ProgramControl(Protocol):
    """The slice of the native Supervisor fault tests use: a program's state, a SIGKILL."""

    def state(self, name: str) -> str: ...
    def kill(self, name: str, *, group: bool = False, timeout: float = 10.0) -> None: ...


class FaultTarget(Protocol):
    """A running stack a fault test may break: native `devstack.stack.Stack` (nodes are
    ports) or `ComposeStack` (nodes are compose service names)."""

    @property
    def gateway_url(self) -> str: ...
    @property
    def redis(self) -> RedisFaults[Any]: ...
    @property
    def postgres(self) -> PostgresFaults: ...
    @property
    def supervisor(self) -> ProgramControl: ...
    def log_lines(self, name: str, containing: str = "") -> list[dict[str, Any]]: ...


# -- podman -------------------------------------------------------------------------------------
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


def _client(host: str, decode: bool = False) -> redis.Redis:
    # Short timeouts: a SIGSTOPped node must not hang a helper.
    return redis.Redis(host=host, port=REDIS_PORT, socket_timeout=1.0,
                       socket_connect_timeout=1.0, decode_responses=decode)


def _until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- Redis Cluster in containers ----------------------------------------------------------------
@dataclass(frozen=True)
class _Node:
    node_id: str
    address: str  # ip as announced
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...] = field(default=())

    @property
    def failing(self) -> bool:
        return bool({"fail", "fail?", "handshake", "noaddr"} & self.flags)

    def owns(self, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.slots)


def _parse_nodes(raw: str) -> list[_Node]:
    nodes = []
    for line in raw.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        slots = []
        for item in parts[8:]:
            if item.startswith("["):
                continue
            lo, _, hi = item.partition("-")
            slots.append((int(lo), int(hi or lo)))
        nodes.append(_Node(parts[0], parts[1].split("@", 1)[0].rsplit(":", 1)[0],
                           frozenset(parts[2].split(",")),
                           None if parts[3] == "-" else parts[3], parts[7] == "connected",
                           tuple(slots)))
    return nodes


class ComposeCluster:
    """The six `redis-N` services; a node is named by its service."""

    def __init__(self, podman: Podman) -> None:
        self.podman = podman
        self._addresses: dict[str, str] = {}
        self._slots_before_fault: dict[str, list[tuple[int, int]]] = {}

    @property
    def ports(self) -> list[str]:
        return list(REDIS_NODES)

    def program_name(self, node: str) -> str:
        return self.podman.container(node)

    # -- addressing ------------------------------------------------------------------------
    def address(self, node: str) -> str:
        if node not in self._addresses:
            self._addresses.update(self.podman.addresses(REDIS_NODES))
        if node not in self._addresses:
            raise redis.ConnectionError(f"{node} has no address (not running)")
        return self._addresses[node]

    def _forget(self, node: str) -> None:
        self._addresses.pop(node, None)

    def _call(self, node: str, *command: str) -> Any:
        with _client(self.address(node), decode=True) as conn:
            return conn.execute_command(*command)

    def _info(self, node: str) -> dict[str, str]:
        raw = str(self._call(node, "CLUSTER", "INFO"))
        pairs = (line.split(":", 1) for line in raw.splitlines() if ":" in line)
        return {key: value.strip() for key, value in pairs}

    def _name_of(self, node: _Node) -> str | None:
        by_address = {address: name for name, address in self._addresses.items()}
        if node.address not in by_address:
            self._addresses.update(self.podman.addresses(REDIS_NODES))
            by_address = {address: name for name, address in self._addresses.items()}
        return by_address.get(node.address)

    # -- topology --------------------------------------------------------------------------
    def view(self, exclude: tuple[str, ...] = ()) -> list[_Node]:
        for node in REDIS_NODES:
            if node in exclude:
                continue
            try:
                return _parse_nodes(str(self._call(node, "CLUSTER", "NODES")))
            except redis.RedisError:
                continue
        raise ProcessError("no Redis node answers CLUSTER NODES")

    def master_for_slot(self, slot: int, exclude: tuple[str, ...] = ()) -> str:
        view = self.view(exclude)
        for entry in view:
            if "master" in entry.flags and entry.owns(slot) and not entry.failing:
                name = self._name_of(entry)
                if name:
                    return name
        raise ProcessError(f"no healthy master serves slot {slot}")

    def master_for_key(self, key: str) -> str:
        return self.master_for_slot(slot_for_key(key))

    def role(self, node: str) -> str:
        reply = self._call(node, "ROLE")
        return "master" if reply[0] == "master" else "replica"

    def roles(self) -> dict[str, str]:
        result = {}
        for node in REDIS_NODES:
            try:
                result[node] = self.role(node)
            except redis.RedisError:
                result[node] = "down"
        return result

    def masters(self) -> list[str]:
        return [n for n, r in self.roles().items() if r == "master"]

    def _link_up(self, node: str) -> bool:
        with _client(self.address(node)) as conn:
            info = conn.info("replication")
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")

    # -- taking nodes down -----------------------------------------------------------------
    def _remember_slots(self, node: str) -> None:
        address = self.address(node)
        for entry in self.view(exclude=(node,)):
            if entry.address == address and entry.slots:
                self._slots_before_fault[node] = list(entry.slots)

    def kill_node(self, node: str) -> None:
        """SIGKILL the node's container (podman does not restart what it killed)."""
        self._remember_slots(node)
        self.podman.kill(node, signal.SIGKILL)

    def stop_node(self, node: str) -> None:
        self._remember_slots(node)
        self.podman.stop(node)

    def pause_node(self, node: str) -> None:
        """SIGSTOP to redis-server (the container's PID 1): a hung server, sockets open."""
        self._remember_slots(node)
        self.podman.kill(node, signal.SIGSTOP)

    def resume_node(self, node: str) -> None:
        self.podman.kill(node, signal.SIGCONT)

    def start_node(self, node: str, timeout: float = 30.0) -> None:
        if self.podman.status(node) != "running":
            self.podman.start(node)
        self._forget(node)  # a new container address, most likely
        _until(lambda: self._call(node, "PING") is True, timeout, f"{node} to answer PING")

    # -- waiting for recovery --------------------------------------------------------------
    def wait_for_failover(self, old_master: str, timeout: float = 30.0) -> str:
        slots = self._slots_before_fault.get(old_master)
        if not slots:
            raise ProcessError(f"{old_master} owned no slots: nothing fails over")
        first_slot = slots[0][0]
        live = [n for n in REDIS_NODES if n != old_master]
        promoted: list[str] = []

        def done() -> bool:
            if any(self._info(n).get("cluster_state") != "ok" for n in live):
                return False
            owner = self.master_for_slot(first_slot, exclude=(old_master,))
            if owner == old_master:
                return False
            promoted[:] = [owner]
            return True

        _until(_tolerant(done), timeout, f"failover away from {old_master}")
        return promoted[0]

    def wait_for_replica(self, node: str, timeout: float = 30.0) -> None:
        def rejoined() -> bool:
            return (self.role(node) == "replica" and self._link_up(node)
                    and self._info(node).get("cluster_state") == "ok")

        _until(rejoined, timeout, f"{node} to rejoin as a replica")
        self._slots_before_fault.pop(node, None)

    def problems(self, node: str) -> list[str]:
        info = self._info(node)
        problems = []
        if info.get("cluster_state") != "ok":
            problems.append(f"cluster_state:{info.get('cluster_state')}")
        if info.get("cluster_known_nodes") != str(len(REDIS_NODES)):
            problems.append(f"known_nodes:{info.get('cluster_known_nodes')}")
        if info.get("cluster_slots_ok") != "16384":
            problems.append(f"slots_ok:{info.get('cluster_slots_ok')}")
        view = _parse_nodes(str(self._call(node, "CLUSTER", "NODES")))
        masters = [n for n in view if "master" in n.flags and n.slots and not n.failing]
        replicas = [n for n in view if "slave" in n.flags and not n.failing]
        if (len(masters), len(replicas)) != (3, 3):
            problems.append(f"masters:{len(masters)} replicas:{len(replicas)}")
        if any(not n.connected and "myself" not in n.flags for n in view):
            problems.append("links not all connected")
        if self.role(node) == "replica" and not self._link_up(node):
            problems.append("replication link down")
        return problems

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every node sees cluster_state:ok, 3 masters, 3 replicas, all links up."""
        deadline = time.monotonic() + timeout
        for node in REDIS_NODES:
            try:
                _until(partial(self._healthy, node), max(0.0, deadline - time.monotonic()),
                       f"{node} to see a healthy cluster")
            except ProcessError as exc:
                try:
                    detail = "; ".join(self.problems(node))
                except (redis.RedisError, ProcessError) as error:
                    detail = str(error)
                raise ProcessError(f"{exc} ({detail})") from exc

    def _healthy(self, node: str) -> bool:
        return not self.problems(node)


def _tolerant(check: Callable[[], bool]) -> Callable[[], bool]:
    def run() -> bool:
        try:
            return check()
        except (redis.RedisError, ProcessError):
            return False

    return run


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

        _until(ready, timeout, "postgres to accept connections", interval=0.3)

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
    """The compose stack as a `FaultTarget` (and, for log reading, in place of `stack`)."""

    def __init__(self, project: str, gateway_url: str, *, gateway_container: str = "gateway",
                 postgres_password: str = "", netns: str | None = None) -> None:
        self.podman = Podman(project, netns)
        self._gateway_url = gateway_url.rstrip("/")
        # "gateway" means the gateway behind gateway_url (the fault phase runs its own).
        self.aliases = {"gateway": gateway_container}
        self._redis = ComposeCluster(self.podman)
        self._postgres = ComposePostgres(self.podman, postgres_password)
        self._supervisor = ComposeSupervisor(self.podman, self.aliases)

    @classmethod
    def from_env(cls) -> ComposeStack:
        return cls(os.environ["E2E_COMPOSE_PROJECT"], os.environ["E2E_GATEWAY_URL"],
                   gateway_container=os.environ.get("E2E_COMPOSE_GATEWAY") or "gateway",
                   postgres_password=os.environ.get("E2E_POSTGRES_PASSWORD", ""),
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

    def log_lines(self, name: str, containing: str = "") -> list[dict[str, Any]]:
        """A container's JSON log lines (those containing `containing`), parsed; a line
        that is not JSON comes back as {"_raw": line}, as natively."""
        return json_log_lines(self.podman.logs(self.aliases.get(name, name)), containing)


def _conforms(native: Stack, compose: ComposeStack
              ) -> tuple[FaultTarget, FaultTarget, RedisFaults[int], RedisFaults[str]]:
    """Never called: mypy checks here that both targets satisfy the protocols."""
    return native, compose, native.redis, compose.redis
