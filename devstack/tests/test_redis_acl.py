"""The ACL users of infra/redis-cluster/users.acl on a real cluster: nobody gets in without
a password, and each service reaches only its own key prefixes and commands."""

from typing import Any

import pytest
import redis

from devstack import redis_topology
from devstack.redis_acl import SERVICE_ROLES, acl_rules

# Shaped like the gateway's limiter: every command it runs, on the key it is given.
LIMITER_SHAPED = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', 0)
redis.call('ZADD', KEYS[1], t[1], 'm')
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('ZSCORE', KEYS[1], 'm')
redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return redis.call('ZCARD', KEYS[1])
"""
WRITE_KEY = "return redis.call('SET', KEYS[1], 'x', 'PX', 60000)"


class AsRole:
    """Commands as one ACL user, each sent to the master of its key's slot (plain node
    connections: redis-py's cluster client needs COMMAND, which no service user has)."""

    def __init__(self, cluster: Any, role: str) -> None:
        self.login = cluster.logins.login(role)
        self.view = cluster.view()

    def node(self, key: str = "") -> redis.Redis:
        master = redis_topology.master_for_slot(self.view, redis_topology.slot_for_key(key))
        assert master is not None
        return redis.Redis(host=redis_topology.HOST, port=master.port,
                           username=self.login.username, password=self.login.password,
                           decode_responses=True, socket_timeout=2.0)

    def __call__(self, *command: Any, key: str) -> Any:
        with self.node(key) as node:
            return node.execute_command(*command)

    def eval(self, script: str, key: str) -> Any:
        return self("EVAL", script, 1, key, key=key)


@pytest.fixture(scope="module")
def roles(redis_cluster: Any) -> dict[str, AsRole]:
    return {role: AsRole(redis_cluster, role) for role in SERVICE_ROLES}


def refused(call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        call(*args, **kwargs)


def test_every_role_of_the_file_is_a_user_and_default_is_off(redis_cluster: Any) -> None:
    with redis_topology.client((redis_topology.HOST, redis_cluster.ports[0])) as node:
        users = set(node.execute_command("ACL", "USERS"))
        default = node.execute_command("ACL", "GETUSER", "default")
    assert users == set(acl_rules())
    assert "off" in default["flags"]


def test_a_client_without_credentials_is_refused(redis_cluster: Any) -> None:
    for port in redis_cluster.ports[:2]:
        anonymous = redis.Redis(host=redis_topology.HOST, port=port, socket_timeout=2)
        with anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    wrong = redis.Redis(host=redis_topology.HOST, port=redis_cluster.ports[0],
                        username="gateway", password="not-its-password", socket_timeout=2)
    with wrong, pytest.raises(redis.AuthenticationError):
        wrong.ping()


def test_the_gateway_runs_its_limiter_and_reads_the_revocation_log_only(
        roles: dict[str, AsRole]) -> None:
    gateway = roles["gateway"]
    assert gateway.eval(LIMITER_SHAPED, "rl:{default:10.0.0.1}") == 1
    log = "rev:{log}"
    assert gateway("XRANGE", log, "-", "+", "COUNT", 1, key=log) is not None
    gateway("XREAD", "COUNT", 1, "STREAMS", log, "0-0", key=log)
    # Not the auth service's keys, not even through a script, and no writes to the log.
    refused(gateway, "GET", "rt:{family}:meta", key="rt:{family}:meta")
    refused(gateway.eval, WRITE_KEY, "lt:{ip:10.0.0.1}")
    refused(gateway.eval, LIMITER_SHAPED, "sess:{u:1}")
    refused(gateway, "XADD", log, "*", "kind", "session", key=log)
    # Only the commands the limiter runs, even on its own keys.
    refused(gateway, "SET", "rl:{default:10.0.0.1}", "x", key="rl:{default:10.0.0.1}")


def test_the_auth_service_reaches_its_prefixes_and_not_the_limiter(
        roles: dict[str, AsRole]) -> None:
    auth = roles["auth-service"]
    for key in ("rt:{f}:meta", "lt:{a:x}", "sess:{u:1}", "mail:{m}", "outbox:{o}", "totp:{t}"):
        assert auth("SET", key, "1", "PX", 60000, key=key)
        assert auth.eval(WRITE_KEY, key) == "OK"
    log = "rev:{log}"
    assert auth("XADD", log, "*", "kind", "session", "id", "s", "exp", "0", key=log)
    assert auth("WAIT", 0, 0, key=log) >= 0
    refused(auth, "GET", "rl:{default:10.0.0.1}", key="rl:{default:10.0.0.1}")
    refused(auth.eval, WRITE_KEY, "rl:{default:10.0.0.1}")


def test_the_user_service_reaches_the_revocation_log_only(roles: dict[str, AsRole]) -> None:
    users = roles["user-service"]
    log = "rev:{log}"
    assert users("XADD", log, "*", "kind", "user", "id", "u", "exp", "0", "before_ms", "0",
                 key=log)
    refused(users, "GET", "rt:{f}:meta", key="rt:{f}:meta")
    refused(users.eval, WRITE_KEY, "sess:{u:1}")


@pytest.mark.parametrize("role", SERVICE_ROLES)
def test_no_service_runs_node_wide_or_dangerous_commands(roles: dict[str, AsRole],
                                                         role: str) -> None:
    with roles[role].node() as node:
        assert node.ping()
        for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "maxmemory"),
                        ("SAVE",), ("ACL", "LIST"), ("CLUSTER", "FAILOVER"),
                        ("SCRIPT", "FLUSH"), ("SUBSCRIBE", "x"), ("SHUTDOWN",)):
            refused(node.execute_command, *command)


def test_replication_user_can_only_replicate(redis_cluster: Any) -> None:
    login = redis_cluster.logins.login("replication")
    node = redis.Redis(host=redis_topology.HOST, port=redis_cluster.ports[0],
                       username=login.username, password=login.password, socket_timeout=2)
    with node:
        assert node.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            node.get("anything")
    # ...and the replicas use it: every master has its replica linked.
    for port in redis_cluster.ports:
        address = (redis_topology.HOST, port)
        if redis_topology.role(address) == "replica":
            assert redis_topology.replication_link_up(address)


def test_a_restarted_node_replays_script_writes_from_its_aof(
        redis_cluster_factory: Any) -> None:
    """Scripts reach the AOF as MULTI/EXEC, which Redis 7.0 replays as the default user:
    that user must keep its rights while off, or a restart silently drops those writes."""
    cluster = redis_cluster_factory()
    key = "rt:{aof-replay}:meta"
    auth = AsRole(cluster, "auth-service")
    assert auth.eval("redis.call('HSET', KEYS[1], 'user', 'u1') "
                     "return redis.call('EXPIRE', KEYS[1], 600)", key) == 1
    master = cluster.master_for_key(key)
    replicas = cluster.replicas_of(master)
    for port in (*replicas, master):  # the whole shard, so nothing fails over
        cluster.stop_node(port)
    for port in (master, *replicas):
        cluster.start_node(port)
    cluster.wait_healthy(60)
    assert AsRole(cluster, "auth-service")("HGET", key, "user", key=key) == "u1"
