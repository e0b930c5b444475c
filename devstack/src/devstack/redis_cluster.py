"""A six-node Redis Cluster (3 masters + 3 replicas) run under supervisord."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import redis
from redis.cluster import ClusterNode as PyClusterNode
from redis.cluster import RedisCluster as PyRedisCluster

from devstack import binaries, redis_topology
from devstack.paths import infra_dir
from devstack.processes import ProcessError, Program, Supervisor
from devstack.redis_acl import Login, RedisLogins
from devstack.redis_faults import ClusterFaults
from devstack.redis_topology import HOST, Address, ClusterNode

DEFAULT_PORTS = (6379, 6380, 6381, 6382, 6383, 6384)


class ClusterError(ProcessError):
    """The cluster could not be formed or did not become healthy."""


class RedisCluster(ClusterFaults[int]):
    """Config, processes, creation and fault helpers for one cluster in `data_dir`."""

    def __init__(self, data_dir: Path, ports: Sequence[int], supervisor: Supervisor,
                 *, autorestart: bool = False, owns_supervisor: bool = False,
                 announce_hostname: str | None = None) -> None:
        if len(ports) != 6:
            raise ValueError("a Redis Cluster here has exactly 6 nodes (3 masters + 3 replicas)")
        super().__init__()
        self.data_dir = data_dir
        self.ports = list(ports)
        self.supervisor = supervisor
        self.autorestart = autorestart
        self._owns_supervisor = owns_supervisor
        # With a hostname, every node announces it and CLUSTER SLOTS, MOVED and ASK name
        # it instead of an IP (what the Kubernetes StatefulSet does with its pods' DNS
        # names), and the seed list uses it too: the clients must resolve it themselves.
        self.announce_hostname = announce_hostname
        # The ACL users' passwords live beside the data (state/data/secrets).
        self.logins = RedisLogins(data_dir.parent / "secrets")
        redis_topology.remember_login(self.logins.admin, self._login_addresses(self.ports))

    @property
    def admin(self) -> Login:
        """The login for cluster operations and inspections (tests, bench)."""
        return self.logins.admin

    def service_env(self, role: str) -> dict[str, str]:
        """REDIS_NODES and the ACL login of the service `role`."""
        return {"REDIS_NODES": self.nodes, **self.logins.service_env(role)}

    def _login_addresses(self, ports: Sequence[int]) -> list[Address]:
        hosts = [HOST] if self.announce_hostname is None else [HOST, self.announce_hostname]
        return [(host, port) for port in ports for host in hosts]

    @classmethod
    def standalone(cls, state_dir: Path, ports: Sequence[int], *,
                   announce_hostname: str | None = None) -> RedisCluster:
        """A cluster with its own supervisord in state_dir (fixtures, fault tests)."""
        return cls(state_dir / "data" / "redis", ports, Supervisor(state_dir),
                   owns_supervisor=True, announce_hostname=announce_hostname)

    @property
    def nodes(self) -> str:
        """The REDIS_NODES value: '127.0.0.1:p1,...,127.0.0.1:p6' (the announced
        hostname instead of 127.0.0.1 when there is one)."""
        host = self.announce_hostname or HOST
        return ",".join(f"{host}:{port}" for port in self.ports)

    def program_name(self, port: int) -> str:
        return f"redis-{port}"

    # -- nodes as ClusterFaults sees them: a port on loopback, a supervisord program ---
    def address(self, node: int) -> Address:
        return (HOST, node)

    def node_of(self, entry: ClusterNode) -> int | None:
        return entry.port if entry.port in self.ports else None

    def _stop(self, node: int) -> None:
        self.supervisor.stop(self.program_name(node))

    def _kill(self, node: int) -> None:
        self.supervisor.kill(self.program_name(node))

    def _signal(self, node: int, sig: signal.Signals) -> None:
        self.supervisor.signal(self.program_name(node), sig)

    def _start(self, node: int) -> None:
        name = self.program_name(node)
        if self.supervisor.state(name) != "RUNNING":
            self.supervisor.start(name)

    # -- configuration and processes -------------------------------------------------
    def _write_config(self, port: int) -> Path:
        node_dir = self.data_dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        template = (infra_dir() / "redis-cluster" / "redis.conf").read_text()
        conf = node_dir / "redis.conf"
        conf.touch(mode=0o600)  # it holds the replication password
        conf.chmod(0o600)
        conf.write_text(template + "\n# Per node (written by devstack)\n"
                        f"port {port}\nbind {HOST}\n"
                        # Loopback only, and no one gets in without a password anyway.
                        "protected-mode no\n"
                        f'dir "{node_dir}"\ncluster-config-file nodes.conf\n'
                        + self._hostname_config() + self.logins.node_config())
        return conf

    def _hostname_config(self) -> str:
        if self.announce_hostname is None:
            return ""
        return (f"cluster-announce-hostname {self.announce_hostname}\n"
                "cluster-preferred-endpoint-type hostname\n")

    def programs(self) -> list[Program]:
        server = str(binaries.redis_server())
        return [Program(name=self.program_name(port),
                        argv=[server, str(self._write_config(port))],
                        stopsignal="TERM", stopwaitsecs=15, priority=100,
                        autorestart=self.autorestart)
                for port in self.ports]

    def start(self, timeout: float = 60.0) -> None:
        """Start all nodes, create the cluster unless nodes.conf says it exists, wait ok."""
        self.supervisor.add(*self.programs())
        if self._owns_supervisor:
            self.supervisor.start_daemon()
        for port in self.ports:
            self.supervisor.start(self.program_name(port))
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._wait(partial(redis_topology.ping, (HOST, port)), deadline, port,
                       "answer PING")
        self.ensure_created()
        self.wait_healthy(max(deadline - time.monotonic(), 5.0))

    def ensure_created(self) -> bool:
        """Run `redis-cli --cluster create` only on six blank nodes; True if it did."""
        infos = {port: redis_topology.cluster_info((HOST, port)) for port in self.ports}
        known = {port: int(info["cluster_known_nodes"]) for port, info in infos.items()}
        if all(n == len(self.ports) for n in known.values()):
            return False  # restarted nodes reloaded nodes.conf: the cluster already exists
        blank = all(n == 1 and infos[p]["cluster_slots_assigned"] == "0"
                    for p, n in known.items())
        if not blank:
            raise ClusterError(f"Redis Cluster in {self.data_dir} is partially formed "
                               f"(known nodes per port: {known}); delete that dir to start over")
        self.cluster_command("create", *[f"{HOST}:{p}" for p in self.ports],
                             "--cluster-replicas", "1", timeout=120)
        return True

    def cluster_command(self, *args: str, timeout: float = 300.0) -> str:
        """`redis-cli --cluster <args> --cluster-yes` as the admin user (the password in
        the environment, not on the command line); its stdout, or ClusterError with its
        output's tail."""
        argv = [str(binaries.redis_cli()), "--cluster", *args, "--cluster-yes",
                "--user", self.admin.username]
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, check=False,
                              env={**os.environ, "REDISCLI_AUTH": self.admin.password})
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise ClusterError(f"redis-cli --cluster {args[0]} failed", tail)
        return done.stdout

    def add_ports(self, *ports: int) -> None:
        """Take on more nodes (scale-out): their programs and their admin login."""
        self.ports.extend(ports)
        redis_topology.remember_login(self.admin, self._login_addresses(ports))

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every node sees cluster_state:ok, 3 masters, 3 replicas, all links up; fails
        fast when a node's process died."""
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._wait(partial(self._healthy, port), deadline, port, "see a healthy cluster")

    def _wait(self, ok: Callable[[], bool], deadline: float, port: int, what: str) -> None:
        while not ok():
            if self.supervisor.is_running():
                self.supervisor.check_alive(self.program_name(port), f"redis node {port}")
            if time.monotonic() > deadline:
                detail = "; ".join(self.problems(port))
                raise ClusterError(f"redis node {port} did not {what} in time ({detail})",
                                   self.supervisor.tail(self.program_name(port)))
            time.sleep(0.1)

    def stop(self) -> None:
        """Graceful stop of all six nodes (AOF flushed); start() brings them back."""
        for port in reversed(self.ports):
            self.supervisor.stop(self.program_name(port))

    def close(self) -> None:
        """Stop everything this handle owns (its supervisord when standalone)."""
        if self._owns_supervisor:
            self.supervisor.shutdown()
        else:
            self.stop()

    # -- clients ---------------------------------------------------------------------
    def client(self, port: int) -> redis.Redis:
        return redis_topology.client((HOST, port))

    def cluster_client(self, **kwargs: object) -> PyRedisCluster:
        nodes = [PyClusterNode(HOST, port) for port in self.ports]  # type: ignore[no-untyped-call]
        options: dict[str, object] = {"decode_responses": True, "socket_timeout": 2.0,
                                      "socket_connect_timeout": 2.0,
                                      "username": self.admin.username,
                                      "password": self.admin.password}
        options.update(kwargs)
        return PyRedisCluster(startup_nodes=nodes, **options)  # type: ignore[arg-type]
