"""Scaling a running Redis Cluster out: one more shard (a master and its replica), then
slots rebalanced onto it, with the same `redis-cli --cluster` commands an operator runs
(docs/scaling-redis.md)."""

from __future__ import annotations

from devstack import redis_topology
from devstack.redis_cluster import RedisCluster
from devstack.redis_topology import HOST


def add_shard(cluster: RedisCluster, master: int, replica: int, timeout: float = 60.0) -> None:
    """Start two empty nodes, join `master` as a master and `replica` as its replica, and
    wait until every node sees them (no slots moved yet: see `rebalance`)."""
    seed = f"{HOST}:{cluster.masters()[0]}"
    cluster.add_ports(master, replica)
    cluster.supervisor.add(*(p for p in cluster.programs() if p.name in
                             (cluster.program_name(master), cluster.program_name(replica))))
    for port in (master, replica):
        cluster.start_node(port)
    cluster.cluster_command("add-node", f"{HOST}:{master}", seed)
    cluster.wait_for(lambda: all(redis_topology.cluster_info((HOST, p)).get("cluster_known_nodes")
                                 == str(len(cluster.ports) - 1)
                                 for p in cluster.ports if p != replica),
                     timeout, "the new master to be known by every node")
    master_id = redis_topology.cluster_nodes((HOST, master))
    own_id = next(n.node_id for n in master_id if "myself" in n.flags)
    cluster.cluster_command("add-node", f"{HOST}:{replica}", seed, "--cluster-slave",
                            "--cluster-master-id", own_id)
    cluster.wait_for(lambda: redis_topology.role((HOST, replica)) == "replica"
                     and redis_topology.replication_link_up((HOST, replica)),
                     timeout, f"redis node {replica} to replicate {master}")


def rebalance(cluster: RedisCluster) -> str:
    """Move slots so every master (the empty new ones included) holds an equal share."""
    seed = f"{HOST}:{cluster.masters()[0]}"
    return cluster.cluster_command("rebalance", seed, "--cluster-use-empty-masters")
