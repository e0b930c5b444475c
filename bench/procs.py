"""CPU accounting from /proc/<pid>/stat and Redis command counts from INFO commandstats."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from devstack import redis_topology

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    return text.rsplit(")", 1)[1].split()


def children_map() -> dict[int, list[int]]:
    """ppid -> child pids, for every process visible now."""
    result: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                result[int(fields[1])].append(int(entry))
    return result


def tree(root: int, children: dict[int, list[int]]) -> list[int]:
    """root and all its descendants (postgres backends, nginx workers)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_ticks(pids: Iterable[int]) -> int:
    """utime + stime (clock ticks) summed over live pids; threads are included."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total


class CpuMeter:
    """Snapshots the CPU time of named process groups (each group = process trees)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups  # name -> root pids (resolved at each snapshot)

    def snapshot(self) -> dict[str, dict[int, int]]:
        children = children_map()
        snap: dict[str, dict[int, int]] = {}
        for name, roots in self.groups.items():
            pids = {pid for root in roots() for pid in tree(root, children)}
            snap[name] = {pid: cpu_ticks([pid]) for pid in pids}
        return snap

    @staticmethod
    def delta_seconds(before: dict[str, dict[int, int]],
                      after: dict[str, dict[int, int]]) -> dict[str, float]:
        """CPU seconds per group between snapshots (a process born in between counts fully)."""
        result = {}
        for name, pids in after.items():
            old = before.get(name, {})
            ticks = sum(t - old.get(pid, 0) for pid, t in pids.items())
            result[name] = ticks / CLK_TCK
        return result


class RedisCounter:
    """Commands executed per node (INFO commandstats), to count round trips per request."""

    def __init__(self, ports: list[int]) -> None:
        # As the cluster's admin user (devstack remembers its login per node).
        self.clients = {port: redis_topology.client((redis_topology.HOST, port), timeout=5)
                        for port in ports}

    def masters(self) -> list[int]:
        return [port for port, client in self.clients.items()
                if client.info("replication").get("role") == "master"]

    def snapshot(self) -> dict[int, dict[str, int]]:
        snap = {}
        for port, client in self.clients.items():
            stats = client.info("commandstats")
            snap[port] = {name.removeprefix("cmdstat_"): int(value["calls"])
                          for name, value in stats.items()}
        return snap

    @staticmethod
    def delta(before: dict[int, dict[str, int]], after: dict[int, dict[str, int]],
              ports: list[int]) -> dict[str, int]:
        """Calls per command summed over `ports` (the masters)."""
        total: dict[str, int] = defaultdict(int)
        for port in ports:
            for command, calls in after[port].items():
                diff = calls - before.get(port, {}).get(command, 0)
                if diff:
                    total[command] += diff
        return dict(total)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
