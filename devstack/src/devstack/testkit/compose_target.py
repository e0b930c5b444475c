"""pytest plugin for running tests/e2e against a stack that is not ours (the compose stack).

Load it with `-p devstack.testkit.compose_target` (infra/ci/test-compose.sh does). It is the target
switch: with it, the fixtures that natively start or own processes are answered by the
compose stack instead, and every test that would still need a native process is deselected
(so that it cannot silently test a native stack instead).

- `stack` and `fault_stack` are a `devstack.testkit.compose_faults.ComposeStack`: `gateway_url`,
  `log_lines()` (podman logs), the fault helpers (`redis`, `postgres`, `supervisor`) with
  the native ones' interface, and `add_gateway`/`stop_service`/`metrics_url`/`user_url`
  with replica containers (devstack.testkit.compose_replicas).
- `stack_starter` (a suite's own stack, natively `start_stack(env)`) makes a
  `ReplicaStack`: replicas of the three services with the suite's settings.
Tests that use more of the native Stack (down/up, its config, its binaries) are deselected
by name below, each with its reason.
- `otlp_receiver` listens where the containers send their spans (E2E_OTLP_LISTEN, host:port,
  in the load balancer container's network namespace, where the tests run), when
  test-compose.sh switched tracing on in the compose stack; otherwise tests needing it are
  deselected.

Environment: E2E_GATEWAY_URL, E2E_COMPOSE_PROJECT, E2E_OTLP_LISTEN,
E2E_CLIENT_ADDRESS_BLOCK (below), and those of `ComposeStack.from_env`."""

from __future__ import annotations

import os
import threading
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from devstack.testkit.addresses import next_client_address
from devstack.testkit.compose_faults import ComposeStack
from devstack.testkit.otlp import OtlpReceiver

# Fixtures that start or inspect native processes (devstack.testkit.fixtures, tests/e2e conftests)
# and have no compose counterpart.
NATIVE_FIXTURES = frozenset({
    "redis_cluster", "postgres", "redis_cluster_factory", "postgres_factory",
})
# Answered by the compose stack (see pytest_fixture_setup below).
SUBSTITUTED = frozenset({"stack", "fault_stack", "otlp_receiver", "stack_starter"})
# Tests that use `stack`/`fault_stack` beyond the compose handle's interface (down/up,
# the native config, binaries or ports): by file, or file::test, each with its reason.
NATIVE_ONLY_TESTS = (
    # Stack.down/up of native processes. On compose the tests run inside the load balancer
    # container's network namespace, which stopping the whole stack takes away: the same
    # check (users, tokens, rate limits survive) is infra/ci/test-compose.sh's stop/start
    # phase, run from the host.
    "tests/e2e/faults/test_stack_restart.py",
    # Starts new native Redis nodes (RedisCluster.add_nodes); on compose that needs new
    # Redis containers joining the compose network (issue 19, not built yet).
    "tests/e2e/faults/test_scale_out.py",
    # Reads the native Stack's config (user_port, user_internal_port) and internal_token,
    # which the compose handle does not imitate.
    "tests/e2e/test_internal_listener.py",
)


class ComposeOtlpReceiver(OtlpReceiver):
    """The test receiver, listening on an address the containers reach (not 127.0.0.1)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        handler = self._server.RequestHandlerClass
        super().close()  # the loopback listener the base class opened
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()


class _Target:
    def __init__(self) -> None:
        self._stack: ComposeStack | None = None
        self._receiver: OtlpReceiver | None = None

    @property
    def tracing(self) -> bool:
        return bool(os.environ.get("E2E_OTLP_LISTEN"))

    def stack(self) -> ComposeStack:
        if self._stack is None:
            self._stack = ComposeStack.from_env()
        return self._stack

    def receiver(self) -> OtlpReceiver:
        """Where the containers export spans; a loopback one (receiving nothing) when the
        compose stack traces nothing and only `stack`'s environment fixture asks for it."""
        if self._receiver is None:
            if self.tracing:
                host, _, port = os.environ["E2E_OTLP_LISTEN"].rpartition(":")
                self._receiver = ComposeOtlpReceiver(host, int(port))
            else:
                self._receiver = OtlpReceiver()
        return self._receiver

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()  # its replica containers
        if self._receiver is not None:
            self._receiver.close()


_target = _Target()


def _native_only(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    if NATIVE_FIXTURES & names:
        return True
    if "otlp_receiver" in names and not _target.tracing:
        return True
    return any(item.nodeid.startswith(prefix) for prefix in NATIVE_ONLY_TESTS)


# Client addresses per phase (E2E_CLIENT_ADDRESS_BLOCK): every pytest session hands out the
# same addresses from the start, but on compose one stack serves several sessions (the
# script's phases, KEEP_STACK loops) and keeps their rate-limit buckets and login-throttle
# counters, which natively die with each session's stack. A block of its own per session
# keeps each test's address fresh, as natively.
ADDRESSES_PER_BLOCK = 1 << 18


def pytest_configure(config: pytest.Config) -> None:
    for _ in range(int(os.environ.get("E2E_CLIENT_ADDRESS_BLOCK") or 0) * ADDRESSES_PER_BLOCK):
        next_client_address()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    native = [item for item in items if _native_only(item)]
    if not native:
        return
    config.hook.pytest_deselected(items=native)
    items[:] = [item for item in items if item not in native]


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
                         ) -> object | None:
    """Answer the substituted fixtures with the compose stack, never starting a native one."""
    if fixturedef.argname not in SUBSTITUTED:
        return None
    value: object
    if fixturedef.argname == "otlp_receiver":
        value = _target.receiver()
    elif fixturedef.argname == "stack_starter":
        value = _target.stack().own_stack
    else:
        value = _target.stack()
    fixturedef.cached_result = (value, fixturedef.cache_key(request), None)  # type: ignore[arg-type]
    return value


def pytest_unconfigure(config: pytest.Config) -> None:
    _target.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    deselected = terminalreporter.stats.get("deselected", [])
    if deselected:
        terminalreporter.write_line(
            f"compose target: {len(deselected)} test(s) deselected "
            "(by -m, or they need the native stack's processes)")
