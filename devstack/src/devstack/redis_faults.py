"""Fault-test operations on a Redis Cluster, written once for both the native cluster
(a node is its port, run by supervisord) and the compose one (a node is its compose
service, run by podman): who owns a key, take nodes down, wait for recovery.

A subclass says how a node is reached (`address`), which node a CLUSTER NODES line is
(`node_of`), and how a node's process is stopped, killed, signalled and started."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Generic, TypeVar

import redis

from devstack import redis_topology
from devstack.processes import ProcessError
from devstack.redis_topology import Address, ClusterNode, until

N = TypeVar("N")


class ClusterFaults(Generic[N]):
    """The six nodes of one cluster, named by `N`."""

    def __init__(self) -> None:
        # Slots a node owned when we took it down, so wait_for_failover knows what moves.
        self._slots_before_fault: dict[N, list[tuple[int, int]]] = {}

    # -- what a subclass provides ------------------------------------------------------
    ports: list[N]  # every node (natively its port, hence the name)

    def address(self, node: N) -> Address:
        raise NotImplementedError

    def node_of(self, entry: ClusterNode) -> N | None:
        """The node a CLUSTER NODES line describes (None: not one of ours)."""
        raise NotImplementedError

    def program_name(self, node: N) -> str:
        raise NotImplementedError

    def _stop(self, node: N) -> None:
        raise NotImplementedError

    def _kill(self, node: N) -> None:
        raise NotImplementedError

    def _signal(self, node: N, sig: signal.Signals) -> None:
        raise NotImplementedError

    def _start(self, node: N) -> None:
        """Start the node's process unless it runs."""
        raise NotImplementedError

    # -- topology ----------------------------------------------------------------------
    def view(self, exclude: tuple[N, ...] = ()) -> list[ClusterNode]:
        """CLUSTER NODES as seen by the first node that answers (skipping `exclude`)."""
        for node in self.ports:
            if node in exclude:
                continue
            try:
                return redis_topology.cluster_nodes(self.address(node))
            except (redis.RedisError, ProcessError):
                continue
        raise ProcessError("no Redis node answers CLUSTER NODES")

    def slot_for_key(self, key: str) -> int:
        return redis_topology.slot_for_key(key)

    def master_for_slot(self, slot: int, exclude: tuple[N, ...] = ()) -> N:
        """The healthy master currently serving `slot`."""
        entry = redis_topology.master_for_slot(self.view(exclude), slot)
        node = self.node_of(entry) if entry is not None and not entry.failing else None
        if node is None:
            raise ProcessError(f"no healthy master serves slot {slot}")
        return node

    def master_for_key(self, key: str) -> N:
        return self.master_for_slot(self.slot_for_key(key))

    def role(self, node: N) -> str:
        return redis_topology.role(self.address(node))

    def roles(self) -> dict[N, str]:
        """{node: 'master' | 'replica' | 'down'} as each node reports itself."""
        result = {}
        for node in self.ports:
            try:
                result[node] = self.role(node)
            except (redis.RedisError, ProcessError):
                result[node] = "down"
        return result

    def masters(self) -> list[N]:
        return [n for n, r in self.roles().items() if r == "master"]

    def replicas_of(self, master: N) -> list[N]:
        view = self.view()
        ids = {self.node_of(entry): entry.node_id for entry in view}
        return [node for entry in view
                if entry.master_id == ids.get(master) and (node := self.node_of(entry))]

    def problems(self, node: N) -> list[str]:
        """Why `node` does not (yet) see a healthy cluster of all our nodes."""
        try:
            return redis_topology.healthy_problems(self.address(node), len(self.ports))
        except (redis.RedisError, ProcessError) as exc:
            return [str(exc)]

    # -- taking nodes down -------------------------------------------------------------
    def _remember_slots(self, node: N) -> None:
        for entry in self.view(exclude=(node,)):
            if self.node_of(entry) == node and entry.slots:
                self._slots_before_fault[node] = list(entry.slots)

    def stop_node(self, node: N) -> None:
        """Graceful stop (SIGTERM): the node flushes its AOF."""
        self._remember_slots(node)
        self._stop(node)

    def kill_node(self, node: N) -> None:
        """SIGKILL: a crash, no AOF flush beyond appendfsync everysec; not restarted."""
        self._remember_slots(node)
        self._kill(node)

    def pause_node(self, node: N) -> None:
        """SIGSTOP: the node freezes with its sockets open (a hung server)."""
        self._remember_slots(node)
        self._signal(node, signal.SIGSTOP)

    def resume_node(self, node: N) -> None:
        self._signal(node, signal.SIGCONT)

    def start_node(self, node: N, timeout: float = 30.0) -> None:
        """Start a stopped or killed node and wait until it answers PING."""
        self._start(node)
        # A container that just started may have no address yet: that is "not yet" too.
        self.wait_for(lambda: redis_topology.ping(self.address(node)), timeout,
                      f"redis node {node} to answer PING")

    # -- waiting for recovery ------------------------------------------------------------
    def wait_for_failover(self, old_master: N, timeout: float = 30.0) -> N:
        """Wait until a live node serves the slots `old_master` had; returns it."""
        slots = self._slots_before_fault.get(old_master)
        if not slots:
            entry = next((e for e in self.view(exclude=(old_master,))
                          if self.node_of(e) == old_master), None)
            slots = list(entry.slots) if entry else []
        if not slots:
            raise ProcessError(f"redis node {old_master} owned no slots: nothing fails over")
        first_slot = slots[0][0]
        live = [n for n in self.ports if n != old_master]
        promoted: list[N] = []

        def done() -> bool:
            if any(redis_topology.cluster_info(self.address(n)).get("cluster_state") != "ok"
                   for n in live):
                return False
            owner = self.master_for_slot(first_slot, exclude=(old_master,))
            if owner == old_master:
                return False
            promoted[:] = [owner]
            return True

        self.wait_for(done, timeout, f"failover away from redis node {old_master}")
        return promoted[0]

    def wait_for_replica(self, node: N, timeout: float = 30.0) -> None:
        """Wait until `node` is back as a replica with its replication link up."""
        def rejoined() -> bool:
            address = self.address(node)
            return (redis_topology.role(address) == "replica"
                    and redis_topology.replication_link_up(address)
                    and redis_topology.cluster_info(address).get("cluster_state") == "ok")

        self.wait_for(rejoined, timeout, f"redis node {node} to rejoin as a replica")
        self._slots_before_fault.pop(node, None)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every node sees cluster_state:ok, 3 masters, 3 replicas, all links up."""
        deadline = time.monotonic() + timeout
        for node in self.ports:
            try:
                until(partial(self._healthy, node), max(0.0, deadline - time.monotonic()),
                      f"redis node {node} to see a healthy cluster")
            except ProcessError as exc:
                raise ProcessError(f"{exc} ({'; '.join(self.problems(node))})") from exc

    def _healthy(self, node: N) -> bool:
        return not self.problems(node)

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `check` (a Redis error, or a node without an address yet, counts as not
        yet) until true or `timeout`."""
        def tolerant() -> bool:
            try:
                return check()
            except (redis.RedisError, ProcessError):
                return False

        until(tolerant, timeout, what)
