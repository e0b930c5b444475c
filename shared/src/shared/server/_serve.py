"""How every service runs under uvicorn: one definition, so all three behave alike."""

import contextlib
import copy
import functools
import gc
import resource
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import uvicorn

from shared._logging import configure_logging, flush_logs, get_logger
from shared._settings import ServiceSettings
from shared.server._limits import ConnectionGuard, ConnectionLimits
from shared.server._protocol import ServiceHttpProtocol

S = TypeVar("S", bound=ServiceSettings)
_RESERVED_DESCRIPTORS = 512  # upstream pools, Redis, the database, logs, the listener
_log = get_logger("shared.server")
STARTUP_FAILURE = 3  # the exit code uvicorn.run uses (uvicorn.main.STARTUP_FAILURE)


def service_config(settings: ServiceSettings, app: Any,
                   exempt_peer: Callable[[str], bool] = lambda peer: False,
                   **uvicorn_options: Any) -> uvicorn.Config:
    """The uvicorn configuration every service runs with (and the tests serve with).

    The client address is the socket peer (`proxy_headers=False`: forwarded headers are
    judged by shared.ClientIpResolver against TRUSTED_PROXIES, never by uvicorn), no Server
    header, and our structlog JSON is the only log format (our middleware writes the access
    log, with the request id). `exempt_peer`: peers the per-address connection cap skips."""
    limits = ConnectionLimits.from_settings(settings)
    guard = ConnectionGuard(limits, exempt_peer)
    options: dict[str, Any] = {
        "loop": "uvloop",
        # httptools with our deadlines and caps; one write per response
        "http": functools.partial(ServiceHttpProtocol, guard=guard),
        "ws": "none",
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "log_config": None,
        "timeout_keep_alive": limits.keep_alive_timeout,
    }
    options.update(host=settings.HOST, port=settings.PORT)
    options.update(uvicorn_options)
    return uvicorn.Config(app, **options)


def serve(settings: S, create_app: Callable[[S], Any],
          exempt_peer: Callable[[str], bool] = lambda peer: False,
          extra_ports: Sequence[int] = (), **uvicorn_options: Any) -> None:
    """Configure JSON logging, build the app, and serve it on uvloop + httptools
    (`service_config`). `extra_ports`: more listeners on HOST for the same app, which tells
    them apart by `scope["server"]` (the user service's INTERNAL_PORT)."""
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    _raise_descriptor_limit(settings.MAX_CONNECTIONS)
    config = service_config(settings, create_app(settings), exempt_peer, **uvicorn_options)
    server = _ServiceServer(config)
    server.run(sockets=listening_sockets(config, extra_ports) if extra_ports else None)
    if not server.started:  # as uvicorn.run: a failed start-up (port taken, lifespan) exits 3
        raise SystemExit(STARTUP_FAILURE)


def listening_sockets(config: uvicorn.Config, extra_ports: Sequence[int]) -> list[socket.socket]:
    """The sockets of config's HOST:PORT and of HOST:each extra port, bound as uvicorn binds
    its own (a port taken fails here, before the app starts)."""
    sockets = []
    for port in (config.port, *extra_ports):
        one = copy.copy(config)
        one.port = port
        sockets.append(one.bind_socket())
    return sockets


def _raise_descriptor_limit(max_connections: int) -> None:
    """Open-files soft limit up to the hard one, as nginx's worker_rlimit_nofile: a
    connection cap above what the process may open would never answer its 503."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if max_connections + _RESERVED_DESCRIPTORS > soft:
        _log.warning("descriptor_limit_below_connection_cap", limit=soft,
                     max_connections=max_connections)


class _ServiceServer(uvicorn.Server):
    """uvicorn's server, which also writes pending log lines before a signal ends the
    process, and moves everything alive after start-up out of the garbage collector's sight.

    Imports, the app, its routes and validators are ~100k long-lived objects; every full
    collection walked them all, a 20-80 ms pause of the event loop that showed up as the
    p99 of every request in flight (docs/performance.md, W3). Frozen objects are never
    collected, which is right for objects that live as long as the process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # After a graceful stop uvicorn re-raises the SIGTERM it caught, which ends the
        # process without atexit: write the last loop turn's log lines before that.
        with super().capture_signals():
            try:
                yield
            finally:
                flush_logs()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        gc.collect()  # free start-up garbage first, so it is not frozen with the rest
        gc.freeze()
