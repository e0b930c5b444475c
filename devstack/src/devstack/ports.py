"""Port probing on the loopback interface."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable

HOST = "127.0.0.1"
# Redis Cluster listens on port + 10000 for its bus.
CLUSTER_BUS_OFFSET = 10000
# Below the Linux ephemeral range (32768+), so outgoing connections never grab a port
# between the moment we pick it and the moment a server binds it; low enough that
# port + CLUSTER_BUS_OFFSET is also below that range.
_LOW, _HIGH = 12000, 22000


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something listens on (or holds) host:port.

    SO_REUSEADDR makes the probe ignore TIME_WAIT leftovers of a server we just stopped,
    while a live listener (on host or on 0.0.0.0) still makes bind fail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_ports(count: int, *, with_bus: bool = False, exclude: Iterable[int] = ()) -> list[int]:
    """`count` distinct free ports; with_bus also requires port + 10000 to be free."""
    rng = random.SystemRandom()
    taken = set(exclude)
    chosen: list[int] = []
    for _ in range(5000):
        port = rng.randrange(_LOW, _HIGH)
        needed = [port, port + CLUSTER_BUS_OFFSET] if with_bus else [port]
        if any(p in taken for p in needed) or any(port_in_use(p) for p in needed):
            continue
        chosen.append(port)
        taken.update(needed)
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"could not find {count} free ports on {HOST}")


def free_port(exclude: Iterable[int] = ()) -> int:
    return free_ports(1, exclude=exclude)[0]
