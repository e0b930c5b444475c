"""The Redis Cluster fixtures start real nodes: 3 masters + 3 replicas, AOF, restartable."""

from collections.abc import Callable

from devstack.redis_cluster import RedisCluster


def test_cluster_has_three_masters_three_replicas_with_aof(redis_cluster: RedisCluster) -> None:
    roles = redis_cluster.roles()
    assert sorted(roles.values()) == ["master"] * 3 + ["replica"] * 3
    for port in redis_cluster.ports:
        with redis_cluster.client(port) as node:
            assert node.config_get("appendonly") == {"appendonly": "yes"}
            assert node.config_get("appendfsync") == {"appendfsync": "everysec"}
            assert node.execute_command("CLUSTER", "INFO").startswith("cluster_state:ok")
    assert redis_cluster.nodes == ",".join(f"127.0.0.1:{p}" for p in redis_cluster.ports)


def test_cluster_client_routes_keys(redis_cluster: RedisCluster) -> None:
    client = redis_cluster.cluster_client()
    try:
        for i in range(50):
            client.set(f"routing:{i}", str(i))
        assert [client.get(f"routing:{i}") for i in range(50)] == [str(i) for i in range(50)]
    finally:
        client.close()
    master = redis_cluster.master_for_key("routing:7")
    with redis_cluster.client(master) as node:
        assert node.get("routing:7") == "7"  # the reported master really holds the key


def test_data_survives_restart_of_all_nodes_without_recreating(
    redis_cluster_factory: Callable[[], RedisCluster],
) -> None:
    cluster = redis_cluster_factory()
    client = cluster.cluster_client()
    client.set("durable:{k}", "kept")
    client.close()
    ids_before = {p: cluster.client(p).execute_command("CLUSTER", "MYID") for p in cluster.ports}

    cluster.stop()
    assert all(cluster.supervisor.state(cluster.program_name(p)) == "STOPPED"
               for p in cluster.ports)
    cluster.start()

    assert cluster.ensure_created() is False
    ids_after = {p: cluster.client(p).execute_command("CLUSTER", "MYID") for p in cluster.ports}
    assert ids_after == ids_before
    client = cluster.cluster_client()
    assert client.get("durable:{k}") == "kept"
    client.close()


def test_failover_helpers(redis_cluster_factory: Callable[[], RedisCluster]) -> None:
    cluster = redis_cluster_factory()
    client = cluster.cluster_client()
    client.set("failover:{k}", "v")
    client.wait(1, 1000)  # the replica has it before we crash its master
    client.close()
    old_master = cluster.master_for_key("failover:{k}")
    replica = cluster.replicas_of(old_master)
    assert len(replica) == 1

    cluster.kill_node(old_master)
    new_master = cluster.wait_for_failover(old_master)
    assert new_master == replica[0]
    assert cluster.master_for_key("failover:{k}") == new_master

    cluster.start_node(old_master)
    cluster.wait_for_replica(old_master)
    assert cluster.roles()[old_master] == "replica"
    cluster.wait_healthy()
    client = cluster.cluster_client()
    assert client.get("failover:{k}") == "v"
    client.close()
