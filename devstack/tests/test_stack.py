"""The `stack` fixture runs the whole topology on free ports with autorestart off."""

import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg
import pytest

from devstack.config import StackConfig
from devstack.ports import free_ports, port_in_use
from devstack.stack import Stack, StackError


def test_stack_infrastructure_is_up(stack: Stack) -> None:
    token_file = stack.config.state_dir / "data" / "secrets" / "internal_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == stack.internal_token
    throttle_file = stack.config.state_dir / "data" / "secrets" / "throttle_secret"
    assert stat.S_IMODE(throttle_file.stat().st_mode) == 0o600
    assert throttle_file.read_text().strip() == stack.throttle_secret != stack.internal_token
    assert sorted(stack.redis.roles().values()) == ["master"] * 3 + ["replica"] * 3
    with psycopg.connect(stack.postgres.dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("authstack",)
    assert stack.config.autorestart is False


def test_started_services_answer_live(stack: Stack) -> None:
    running = {i["name"] for i in stack.supervisor.all_info() if i["statename"] == "RUNNING"}
    for name, service in stack.services.items():
        if name in running:
            assert httpx.get(f"{service.url}/health/live", timeout=5).status_code == 200


def test_killed_redis_node_stays_down_then_comes_back(stack: Stack) -> None:
    replica = next(p for p, role in stack.redis.roles().items() if role == "replica")
    stack.redis.kill_node(replica)
    assert stack.supervisor.state(stack.redis.program_name(replica)) != "RUNNING"
    stack.redis.start_node(replica)
    stack.redis.wait_for_replica(replica)
    stack.redis.wait_healthy()


def test_paused_service_can_be_resumed(stack: Stack) -> None:
    url = f"{stack.user_url}/health/live"
    stack.signal_program("user-service", signal.SIGSTOP)
    try:
        with pytest.raises(httpx.TimeoutException):
            httpx.get(url, timeout=1)
    finally:
        stack.signal_program("user-service", signal.SIGCONT)
    assert httpx.get(url, timeout=5).status_code == 200


def test_second_gateway(stack: Stack) -> None:
    url = stack.add_gateway(env={"LOG_LEVEL": "debug"})
    assert url != stack.gateway_url
    assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200


def test_failing_step_stops_everything_and_reports_the_log(tmp_path: Path) -> None:
    # A venv bin dir whose user-service fails: `up` must stop Redis and Postgres again.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    script = bin_dir / "user-service"
    script.write_text("#!/bin/sh\necho 'boom: cannot migrate'\nexit 3\n")
    script.chmod(0o755)
    state = Path(tempfile.mkdtemp(prefix="devstack-fail-"))
    state.chmod(0o711)
    redis_ports = free_ports(6, with_bus=True)
    # Free ports for everything: a `make up` stack (or anything on 3000) must not matter.
    pg, auth, user, user_internal, gateway, smtp = free_ports(6, exclude=redis_ports)
    config = StackConfig(state_dir=state, redis_ports=redis_ports, autorestart=False,
                         bin_dir=bin_dir, postgres_port=pg, auth_port=auth, user_port=user,
                         user_internal_port=user_internal, gateway_port=gateway,
                         smtp_port=smtp)
    failing = Stack(config, echo=lambda _line: None)
    try:
        with pytest.raises(StackError, match="user-service migrate failed") as caught:
            failing.up()
        assert "boom: cannot migrate" in caught.value.log_tail
        assert not failing.is_running()
        assert not any(port_in_use(p) for p in [*redis_ports, config.postgres_port])
    finally:
        failing.down()
        shutil.rmtree(state, ignore_errors=True)
