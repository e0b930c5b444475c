"""structlog set-up: one JSON object per line on stdout, with service and request_id."""

import logging
import sys
from typing import Any

import orjson
import structlog

from shared.context import request_id_var
from shared.tracing import current_trace_id


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _add_trace_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    trace_id = current_trace_id()  # None unless tracing is on and a span is active
    if trace_id is not None:
        event.setdefault("trace_id", trace_id)
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(service: str, level: str = "info") -> None:
    """Route structlog and stdlib logging (uvicorn, sqlalchemy, ...) to JSON lines on stdout."""
    numeric_level = logging.getLevelName(level.upper())
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        _add_trace_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            lambda _, __, event: {"service": service, **event},
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    # Third-party libraries log through stdlib logging; render them the same way.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
        processors=[
            lambda _, __, event: {"service": service, **event},
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # uvicorn's own access log would duplicate ours (and lacks request_id).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    # httpx logs every call at info; our own access lines already cover service calls.
    logging.getLogger("httpx").setLevel(max(numeric_level, logging.WARNING))


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; request_id is added automatically inside a request."""
    return structlog.get_logger(name)
