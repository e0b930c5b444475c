"""Port probing, and `up` refusing busy ports without leaving anything running."""

import socket
from pathlib import Path

import pytest

from devstack.config import ConfigError, StackConfig, parse_port_list
from devstack.ports import free_ports, port_in_use
from devstack.stack import Stack, StackError


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_free_ports_leave_room_for_the_cluster_bus() -> None:
    ports = free_ports(6, with_bus=True)
    assert len(set(ports)) == 6
    assert all(p + 10000 < 32768 and not port_in_use(p + 10000) for p in ports)


@pytest.mark.parametrize(("role", "named"), [("postgres_port", "postgres"),
                                             ("gateway_metrics_port", "gateway metrics"),
                                             ("user_internal_port", "user-service internal API")])
def test_up_refuses_a_busy_port_and_starts_nothing(tmp_path: Path, role: str,
                                                   named: str) -> None:
    redis_ports = free_ports(6, with_bus=True)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        others = free_ports(8, exclude=[*redis_ports, busy])
        ports = dict(zip(("postgres_port", "auth_port", "user_port", "user_internal_port",
                          "gateway_port", "gateway_metrics_port", "auth_metrics_port",
                          "user_metrics_port"),
                         others, strict=True))
        ports[role] = busy
        config = StackConfig(state_dir=tmp_path / "state", redis_ports=redis_ports,
                             autorestart=False, **ports)
        stack = Stack(config, echo=lambda _line: None)
        with pytest.raises(StackError) as caught:
            stack.up()
    message = str(caught.value)
    assert f"{busy} ({named})" in message
    assert "\n" not in message
    assert not stack.is_running()
    assert not any(port_in_use(p) for p in redis_ports)


def test_redis_ports_from_env() -> None:
    assert parse_port_list("7000-7005") == [7000, 7001, 7002, 7003, 7004, 7005]
    with pytest.raises(ConfigError):
        parse_port_list("7000-7003")


def test_user_internal_port_from_env_and_zero_for_none() -> None:
    assert StackConfig.from_env({}).user_internal_port == 8003
    assert StackConfig.from_env({"USER_INTERNAL_PORT": "8013"}).user_internal_port == 8013
    assert StackConfig.from_env({"USER_INTERNAL_PORT": "0"}).user_internal_port == 0
    for bad in ("-1", "x", "70000"):
        with pytest.raises(ConfigError):
            StackConfig.from_env({"USER_INTERNAL_PORT": bad})
    with pytest.raises(ConfigError):  # 0 means "none" only where a listener is optional
        StackConfig.from_env({"USER_PORT": "0"})
