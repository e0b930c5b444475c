"""Fault-test helpers for RedisCluster: who owns a key, take nodes down, wait for recovery."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import redis

from devstack import redis_topology
from devstack.processes import ProcessError, Supervisor


class ClusterFaults:
    """Mixed into RedisCluster; relies on its ports, supervisor and program names."""

    ports: list[int]
    supervisor: Supervisor
    _slots_before_fault: dict[int, list[tuple[int, int]]]

    def program_name(self, port: int) -> str:
        raise NotImplementedError

    # -- topology --------------------------------------------------------------------
    def view(self, exclude: tuple[int, ...] = ()) -> list[redis_topology.ClusterNode]:
        """CLUSTER NODES as seen by the first node that answers (skipping `exclude`)."""
        for port in self.ports:
            if port in exclude:
                continue
            try:
                return redis_topology.cluster_nodes(port)
            except redis.RedisError:
                continue
        raise ProcessError("no Redis node answers CLUSTER NODES")

    def slot_for_key(self, key: str) -> int:
        return redis_topology.slot_for_key(key)

    def master_for_slot(self, slot: int) -> int:
        """Port of the master currently serving `slot`."""
        node = redis_topology.master_for_slot(self.view(), slot)
        if node is None or node.failing:
            raise ProcessError(f"no healthy master serves slot {slot}")
        return node.port

    def master_for_key(self, key: str) -> int:
        return self.master_for_slot(self.slot_for_key(key))

    def roles(self) -> dict[int, str]:
        """{port: 'master' | 'replica' | 'down'} as each node reports itself."""
        result = {}
        for port in self.ports:
            try:
                result[port] = redis_topology.role(port)
            except redis.RedisError:
                result[port] = "down"
        return result

    def masters(self) -> list[int]:
        return [p for p, r in self.roles().items() if r == "master"]

    def replicas_of(self, master_port: int) -> list[int]:
        view = self.view()
        ids = {n.port: n.node_id for n in view}
        return [n.port for n in view if n.master_id == ids.get(master_port)]

    # -- taking nodes down -------------------------------------------------------------
    def _remember_slots(self, port: int) -> None:
        for node in self.view(exclude=(port,)):
            if node.port == port and node.slots:
                self._slots_before_fault[port] = list(node.slots)

    def stop_node(self, port: int) -> None:
        """Graceful stop (SIGTERM via supervisord)."""
        self._remember_slots(port)
        self.supervisor.stop(self.program_name(port))

    def kill_node(self, port: int) -> None:
        """SIGKILL: a crash, no AOF flush beyond appendfsync everysec."""
        self._remember_slots(port)
        self.supervisor.kill(self.program_name(port))

    def pause_node(self, port: int) -> None:
        """SIGSTOP: the node freezes with its sockets open (a hung server)."""
        self._remember_slots(port)
        self.supervisor.signal(self.program_name(port), signal.SIGSTOP)

    def resume_node(self, port: int) -> None:
        self.supervisor.signal(self.program_name(port), signal.SIGCONT)

    def start_node(self, port: int, timeout: float = 30.0) -> None:
        """Start a stopped or killed node and wait until it answers PING."""
        name = self.program_name(port)
        if self.supervisor.state(name) != "RUNNING":
            self.supervisor.start(name)
        _until(lambda: redis_topology.ping(port), timeout, f"redis node {port} to answer PING")

    # -- waiting for recovery ------------------------------------------------------------
    def wait_for_failover(self, old_master: int, timeout: float = 30.0) -> int:
        """Wait until a live node serves the slots `old_master` had; returns its port."""
        slots = self._slots_before_fault.get(old_master)
        if not slots:
            node = next((n for n in self.view(exclude=(old_master,)) if n.port == old_master),
                        None)
            slots = list(node.slots) if node else []
        if not slots:
            raise ProcessError(f"redis node {old_master} owned no slots: nothing fails over")
        first_slot = slots[0][0]
        live = [p for p in self.ports if p != old_master]
        new_master: list[int] = []

        def promoted() -> bool:
            try:
                for port in live:
                    if redis_topology.cluster_info(port).get("cluster_state") != "ok":
                        return False
                owner = redis_topology.master_for_slot(self.view(exclude=(old_master,)),
                                                       first_slot)
            except redis.RedisError:
                return False
            if owner is None or owner.port == old_master or owner.failing:
                return False
            new_master[:] = [owner.port]
            return True

        _until(promoted, timeout, f"failover away from redis node {old_master}")
        return new_master[0]

    def wait_for_replica(self, port: int, timeout: float = 30.0) -> None:
        """Wait until `port` is back as a replica with its replication link up."""
        def rejoined() -> bool:
            try:
                return (redis_topology.role(port) == "replica"
                        and redis_topology.replication_link_up(port)
                        and redis_topology.cluster_info(port).get("cluster_state") == "ok")
            except redis.RedisError:
                return False

        _until(rejoined, timeout, f"redis node {port} to rejoin as a replica")
        self._slots_before_fault.pop(port, None)

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `check` (a Redis error counts as not yet) until true or `timeout`."""
        def tolerant() -> bool:
            try:
                return check()
            except redis.RedisError:
                return False

        _until(tolerant, timeout, what)


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ProcessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
