"""How every service runs under uvicorn: one definition, so all three behave alike."""

import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import uvicorn

from shared._logging import configure_logging, flush_logs
from shared._settings import ServiceSettings
from shared.server._protocol import CombiningHttpToolsProtocol

S = TypeVar("S", bound=ServiceSettings)
STARTUP_FAILURE = 3  # the exit code uvicorn.run uses (uvicorn.main.STARTUP_FAILURE)


def serve(settings: S, create_app: Callable[[S], Any], **uvicorn_options: Any) -> None:
    """Configure JSON logging, build the app, and serve it on uvloop + httptools.

    The client address is the socket peer (`proxy_headers=False`: forwarded headers are
    judged by shared.ClientIpResolver against TRUSTED_PROXIES, never by uvicorn), no Server
    header, and our structlog JSON is the only log format (our middleware writes the access
    log, with the request id)."""
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    options: dict[str, Any] = {
        "loop": "uvloop",
        "http": CombiningHttpToolsProtocol,  # httptools, one write per response
        "ws": "none",
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "log_config": None,
    }
    options.update(uvicorn_options)
    config = uvicorn.Config(create_app(settings), host=settings.HOST, port=settings.PORT,
                            **options)
    server = _ServiceServer(config)
    server.run()
    if not server.started:  # as uvicorn.run: a failed start-up (port taken, lifespan) exits 3
        raise SystemExit(STARTUP_FAILURE)


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
