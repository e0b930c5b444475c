"""Scaling a running Redis Cluster out (one more shard: a master and its replica, then
slots rebalanced onto it) and back in (slots moved off, the nodes forgotten), with the same
`redis-cli --cluster` commands an operator runs (docs/scaling-redis.md)."""

from __future__ import annotations

from collections.abc import Sequence

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
    out = cluster.cluster_command("rebalance", seed, "--cluster-use-empty-masters")
    wait_agreed(cluster)
    return out


def wait_agreed(cluster: RedisCluster, timeout: float = 60.0) -> None:
    """Until `redis-cli --cluster check` passes: after slots moved, the new owners' config
    epochs take a few gossip rounds to reach every node, and until then the next
    rebalance refuses ("Nodes don't agree about configuration")."""
    seed = f"{HOST}:{cluster.masters()[0]}"
    cluster.wait_for(lambda: bool(cluster.cluster_command("check", seed, timeout=30)),
                     timeout, "every node to agree on the slot configuration")


def node_id(port: int) -> str:
    return next(n.node_id for n in redis_topology.cluster_nodes((HOST, port))
                if "myself" in n.flags)


def slot_count(cluster: RedisCluster, port: int) -> int:
    return sum(hi - lo + 1 for n in cluster.view() if n.port == port for lo, hi in n.slots)


def drain(cluster: RedisCluster, masters: Sequence[int]) -> str:
    """Move every slot off `masters` onto the others (rebalance with weight 0)."""
    wait_agreed(cluster)
    # A master that gives away its last slot turns itself into a replica of the taker
    # (cluster-allow-replica-migration, on by default), and redis-cli 7.0's rebalance then
    # fails sending it SETSLOT ("use SETSLOT only with masters"). The leaving masters stay
    # empty masters instead, until remove_shards forgets them.
    for port in masters:
        cluster.client(port).config_set("cluster-allow-replica-migration", "no")
    seed = next(p for p in cluster.masters() if p not in masters)
    weights = [f"{node_id(port)}=0" for port in masters]
    out = cluster.cluster_command("rebalance", f"{HOST}:{seed}", "--cluster-weight", *weights)
    wait_agreed(cluster)
    if left := {port: n for port in masters if (n := slot_count(cluster, port))}:
        raise RuntimeError(f"slots still on the leaving masters after rebalance: {left}")
    return out


def remove_shards(cluster: RedisCluster, shards: Sequence[tuple[int, int]],
                  timeout: float = 60.0) -> None:
    """Scale in: for each drained (master, replica), forget the replica and then the master
    on every node (`del-node`, which also resets them), stop their processes, and wait until
    the remaining nodes know only each other."""
    leaving = [port for shard in shards for port in shard]
    seed = next(p for p in cluster.masters() if p not in leaving)
    for master, replica in shards:
        if slot_count(cluster, master):
            raise RuntimeError(f"redis node {master} still serves slots: drain it first")
        for port in (replica, master):
            cluster.cluster_command("del-node", f"{HOST}:{seed}", node_id(port))
            cluster.supervisor.stop(cluster.program_name(port))
    cluster.ports[:] = [p for p in cluster.ports if p not in leaving]
    cluster.wait_for(lambda: all(redis_topology.cluster_info((HOST, p)).get("cluster_known_nodes")
                                 == str(len(cluster.ports)) for p in cluster.ports),
                     timeout, "the remaining nodes to forget the removed ones")
