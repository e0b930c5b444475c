"""pytest plugin: real Redis Cluster, PostgreSQL and the full stack on free ports.

Enable with `pytest_plugins = ["devstack.testkit.fixtures"]` in the root conftest. Every server
runs under its own supervisord in its own temporary dir and is stopped (by PID as a last
resort) when its fixture ends, whatever the test outcome.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from devstack.config import StackConfig
from devstack.paths import default_state_dir
from devstack.ports import free_port, free_ports
from devstack.postgres import Postgres
from devstack.processes import ProcessError, Supervisor
from devstack.redis_cluster import RedisCluster
from devstack.stack import Stack
from devstack.testkit.mail import CaptureSmtp
from devstack.testkit.otlp import OtlpReceiver

H = TypeVar("H")

# Safety net for interrupted sessions where fixture finalizers never run.
_LIVE: list[Supervisor] = []


@atexit.register
def _stop_leftovers() -> None:
    for supervisor in _LIVE:
        supervisor.shutdown(timeout=30)


def _workdir(prefix: str) -> Path:
    # Not pytest's tmp_path: its /tmp/pytest-of-<user> is 0700, which the unprivileged
    # postgres user cannot traverse, and its long paths overflow unix socket names.
    path = Path(tempfile.mkdtemp(prefix=f"devstack-{prefix}-"))
    path.chmod(0o711)
    return path


def _cleanup(supervisor: Supervisor, workdir: Path) -> None:
    try:
        supervisor.shutdown(timeout=60)
    finally:
        if supervisor in _LIVE:
            _LIVE.remove(supervisor)
        if not os.environ.get("DEVSTACK_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)


def _started(start: Callable[[], None], supervisor: Supervisor, workdir: Path) -> None:
    _LIVE.append(supervisor)
    try:
        start()
    except ProcessError as exc:
        _cleanup(supervisor, workdir)
        # Put the failing server's log into the test report.
        raise ProcessError(f"{exc}\n{exc.log_tail}", exc.log_tail) from exc
    except BaseException:
        _cleanup(supervisor, workdir)
        raise


def start_redis_cluster(announce_hostname: str | None = None
                        ) -> tuple[RedisCluster, Callable[[], None]]:
    """A fresh, started 3+3 cluster on free ports, and the function that disposes of it;
    with `announce_hostname`, its nodes announce that name and prefer it as endpoint."""
    workdir = _workdir("redis")
    cluster = RedisCluster.standalone(workdir, free_ports(6, with_bus=True),
                                      announce_hostname=announce_hostname)
    _started(cluster.start, cluster.supervisor, workdir)
    return cluster, lambda: _cleanup(cluster.supervisor, workdir)


def start_postgres() -> tuple[Postgres, Callable[[], None]]:
    """A fresh, started PostgreSQL on a free port, and the function that disposes of it."""
    workdir = _workdir("pg")
    server = Postgres.standalone(workdir, free_port())
    _started(server.start, server.supervisor, workdir)
    return server, lambda: _cleanup(server.supervisor, workdir)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Session-wide cluster; tests that take nodes down should use redis_cluster_factory."""
    cluster, dispose = start_redis_cluster()
    try:
        yield cluster
    finally:
        dispose()


@pytest.fixture(scope="session")
def redis_cluster_with_hostnames() -> Iterator[RedisCluster]:
    """Session-wide cluster whose nodes announce `localhost` (cluster-announce-hostname,
    cluster-preferred-endpoint-type hostname), as the Kubernetes pods announce their DNS
    names; its REDIS_NODES (`.nodes`) names localhost too. A test that takes a node down
    or changes a node's settings puts it back as it was; slots may move between masters
    (a reshard), and a failover leaves the roles swapped."""
    cluster, dispose = start_redis_cluster(announce_hostname="localhost")
    try:
        yield cluster
    finally:
        dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """Session-wide PostgreSQL with role and database `authstack` (.url, .dsn)."""
    server, dispose = start_postgres()
    try:
        yield server
    finally:
        dispose()


def _factory(start: Callable[[], tuple[H, Callable[[], None]]]) -> Iterator[Callable[[], H]]:
    disposers: list[Callable[[], None]] = []

    def make() -> H:
        handle, dispose = start()
        disposers.append(dispose)
        return handle

    try:
        yield make
    finally:
        for dispose in reversed(disposers):
            dispose()


@pytest.fixture
def redis_cluster_factory() -> Iterator[Callable[[], RedisCluster]]:
    """Call it for a fresh cluster this test owns (kill nodes freely); stopped afterwards."""
    yield from _factory(start_redis_cluster)


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], Postgres]]:
    """Call it for a fresh PostgreSQL this test owns; stopped afterwards."""
    yield from _factory(start_postgres)


@pytest.fixture
def capture_smtp() -> Iterator[CaptureSmtp]:
    """A capture SMTP server this test owns (stop and start it freely), on a free port with
    a temporary Maildir; `.smtp_env()` points an auth service at it."""
    workdir = _workdir("mail")
    server = CaptureSmtp(workdir / "mail")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if not os.environ.get("DEVSTACK_KEEP_TMP"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def mail_dir(request: pytest.FixtureRequest) -> Path:
    """The Maildir where the stack under test captures mail (read it with
    devstack.testkit.mail.wait_for_mail): E2E_MAIL_DIR for a running stack (`make up`:
    .stack/mail; compose: the mail-data volume), else the session `stack`'s."""
    external = os.environ.get("E2E_MAIL_DIR")
    if external:
        return Path(external)
    if os.environ.get("E2E_GATEWAY_URL"):  # a running `make up` stack
        return default_state_dir() / "mail"
    return Path(request.getfixturevalue("stack").mail_dir)


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """Where the session stack's services export their spans (tracing is on there)."""
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="session")
def devstack_stack_env(otlp_receiver: OtlpReceiver) -> dict[str, dict[str, str]]:
    """Per-service env of the session `stack`: tracing on, exported to `otlp_receiver`.

    Defined here rather than in one suite's conftest: the session stack is started by
    whichever test asks first, so its configuration cannot depend on where that test is."""
    tracing = OtlpReceiver.service_env(otlp_receiver.endpoint)
    return {service: dict(tracing) for service in ("gateway", "auth-service", "user-service")}


@contextmanager
def start_stack(env: dict[str, dict[str, str]] | None = None,
                prefix: str = "stack") -> Iterator[Stack]:
    """`with start_stack(env) as stack:` a fresh full stack on free ports that the caller
    owns (faults, restarts, extra gateways), autorestart off, disposed of on exit."""
    workdir = _workdir(prefix)
    redis_ports = free_ports(6, with_bus=True)
    pg, auth, user, user_internal, gateway, smtp, *metrics = free_ports(
        9, exclude=[*redis_ports, *(p + 10000 for p in redis_ports)])
    config = StackConfig(state_dir=workdir, redis_ports=redis_ports, postgres_port=pg,
                         auth_port=auth, user_port=user, user_internal_port=user_internal,
                         gateway_port=gateway,
                         gateway_metrics_port=metrics[0], auth_metrics_port=metrics[1],
                         user_metrics_port=metrics[2], smtp_port=smtp,
                         autorestart=False, env=env or {})
    handle = Stack(config)
    _started(handle.up, handle.supervisor, workdir)
    try:
        yield handle
    finally:
        _cleanup(handle.supervisor, workdir)


@pytest.fixture(scope="session")
def stack(devstack_stack_env: dict[str, dict[str, str]]) -> Iterator[Stack]:
    """The full native stack on free ports, autorestart off (faults stay injected).

    Shared by the whole session: tests that kill, restart or reshape servers take their
    own from `start_stack` instead."""
    with start_stack(devstack_stack_env) as handle:
        yield handle
