"""How every service runs under uvicorn: one definition, so all three behave alike."""

from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from shared.logging import configure_logging
from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def serve(settings: S, create_app: Callable[[S], Any], **uvicorn_options: Any) -> None:
    """Configure JSON logging, build the app, and serve it on uvloop + httptools.

    The client address is the socket peer (`proxy_headers=False`: forwarded headers are
    judged by shared.ClientIpResolver against TRUSTED_PROXIES, never by uvicorn), no Server
    header, and our structlog JSON is the only log format (our middleware writes the access
    log, with the request id)."""
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    options: dict[str, Any] = {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "none",
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "log_config": None,
    }
    options.update(uvicorn_options)
    uvicorn.run(create_app(settings), host=settings.HOST, port=settings.PORT, **options)
