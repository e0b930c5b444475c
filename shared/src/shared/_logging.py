"""structlog set-up: one JSON object per line on stdout, with service and request_id."""

import asyncio
import atexit
import logging
import sys
import threading
from typing import Any, TextIO

import orjson
import structlog

from shared._context import request_id_var
from shared._tracing import current_trace_id


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


class LineWriter:
    """Writes log lines to a stream. In a thread running an event loop, the lines of one
    loop turn leave together in one write at the end of the turn: a write (a syscall) per
    access-log line was ~9% of the gateway's CPU. Elsewhere (start-up, CLIs, worker
    threads) each line is written at once. What is still pending at exit is written then."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending: list[str] = []
        self._lock = threading.Lock()  # worker threads log too
        atexit.register(self.flush)

    def write_line(self, line: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with self._lock:
                self._pending.append(line)
                self._write_pending()
            return
        with self._lock:
            first = not self._pending
            self._pending.append(line)
        if first:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: logging must not crash us
            pass


class _StructlogLogger:
    """structlog's logger protocol on a LineWriter (the renderer made the line)."""

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer.write_line(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _LineHandler(logging.Handler):
    """stdlib records (uvicorn, sqlalchemy, ...) into the same writer, so lines keep their
    order whichever library wrote them."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._writer.write_line(self.format(record))
        except Exception:
            self.handleError(record)


_writer: LineWriter | None = None


def _stdout_writer() -> LineWriter:
    global _writer
    if _writer is None or _writer.stream is not sys.stdout:
        if _writer is not None:
            _writer.flush()
        _writer = LineWriter(sys.stdout)
    return _writer


def flush_logs() -> None:
    """Write pending log lines now (before the process is ended by a signal)."""
    if _writer is not None:
        _writer.flush()


def configure_logging(service: str, level: str = "info") -> None:
    """Route structlog and stdlib logging (uvicorn, sqlalchemy, ...) to JSON lines on stdout."""
    numeric_level = logging.getLevelName(level.upper())
    writer = _stdout_writer()
    logger = _StructlogLogger(writer)
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
        logger_factory=lambda *_: logger,
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
    handler = _LineHandler(writer)
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
