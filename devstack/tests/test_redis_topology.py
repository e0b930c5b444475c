"""devstack's CLUSTER NODES reader, on nodes that announce a hostname (as the Kubernetes
pods do) and on the address forms Redis writes."""

from typing import Any

import pytest

from devstack import redis_topology
from devstack.redis_topology import HOST, parse_address


@pytest.mark.parametrize(("field", "expected"), [
    ("127.0.0.1:7000@17000", ("127.0.0.1", 7000, None)),
    ("10.1.2.3:6379@16379,redis-cluster-0.redis-cluster.authstack.svc.cluster.local",
     ("10.1.2.3", 6379, "redis-cluster-0.redis-cluster.authstack.svc.cluster.local")),
    (":0@0", ("", 0, None)),  # a node whose address nobody knows yet (noaddr)
    ("::1:7000@17000,localhost", ("::1", 7000, "localhost")),
    # nodes.conf since Redis 7.2: auxiliary fields after the hostname, or after an
    # empty one.
    ("127.0.0.1:7000@17000,node-a,shard-id=5f2c,tls-port=0", ("127.0.0.1", 7000, "node-a")),
    ("127.0.0.1:7000@17000,,shard-id=5f2c", ("127.0.0.1", 7000, None)),
])
def test_reads_each_address_form(field: str, expected: tuple[str, int, str | None]) -> None:
    assert parse_address(field) == expected


def test_every_node_reads_every_node_and_its_hostname(
        redis_cluster_with_hostnames: Any) -> None:
    cluster = redis_cluster_with_hostnames
    for port in cluster.ports:
        for address in ((HOST, port), ("localhost", port)):  # reached by IP and by name
            view = redis_topology.cluster_nodes(address)
            assert sorted(n.port for n in view) == sorted(cluster.ports)
            assert {(n.host, n.hostname) for n in view} == {(HOST, "localhost")}
            assert [n.port for n in view if "myself" in n.flags] == [port]
            assert redis_topology.healthy_problems(address, len(cluster.ports)) == []
    view = cluster.view()
    assert sum(n.is_master for n in view) == 3
    assert {cluster.node_of(n) for n in view} == set(cluster.ports)
    master = cluster.master_for_key("topology:{k}")
    assert redis_topology.role(("localhost", master)) == "master"
