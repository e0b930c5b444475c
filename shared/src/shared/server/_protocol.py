"""uvicorn's httptools protocol with the edge behaviour every service needs.

- The writes of one event-loop turn leave as one (shared.CombiningTransport): uvicorn writes
  a response's head and body with two `transport.write` calls, two `send` syscalls per
  response, which was ~20% of the gateway's CPU samples.
- Deadlines (ConnectionGuard): the request head must arrive within the header timeout and a
  body must keep progressing, else 408; a client must keep taking a response (send
  timeout), else it is cut off; connections over the caps get a 503 at once.
- Lingering close, as nginx's: a connection closed while the client may still be sending
  (an early 413, a 408, a parser 400) is half-closed and its input drained, within a byte and
  time bound, before the socket closes, so the client reads our answer instead of a reset.
- Answers made here, below the application, are problem+json with an X-Request-ID like
  every other answer (uvicorn's own are text/plain)."""

import asyncio
import math
from enum import Enum
from http import HTTPStatus
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from shared._correlation import new_request_id
from shared._logging import get_logger
from shared._problems import PROBLEM_CONTENT_TYPE, problem_body
from shared._transport import CombiningTransport
from shared.server._limits import ConnectionGuard, Refusal

_log = get_logger("shared.server")


class _Phase(Enum):
    HEAD = "head"  # waiting for (the rest of) a request head
    BODY = "body"  # reading a request body
    SERVING = "serving"  # the application has it, or the connection idles under keep-alive
    LINGER = "linger"  # answered and half-closed; draining input before closing


# Module constants: the parser callbacks run for every request, attribute lookups add up.
_HEAD, _BODY, _SERVING, _LINGER = _Phase.HEAD, _Phase.BODY, _Phase.SERVING, _Phase.LINGER


def problem_response(status: int, code: str, detail: str,
                     *headers: tuple[bytes, bytes]) -> bytes:
    """A whole `Connection: close` problem+json response, as bytes for the transport."""
    request_id = new_request_id()
    body = problem_body(status, code, detail, request_id=request_id)
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode(),
             b"content-type: " + PROBLEM_CONTENT_TYPE.encode(),
             b"cache-control: no-store",
             b"x-request-id: " + request_id.encode(),
             b"content-length: " + str(len(body)).encode(),
             b"connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _ClosingTransport(CombiningTransport):
    """The transport uvicorn writes to and closes: `close` means "close gracefully"."""

    __slots__ = ("_protocol",)

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 protocol: "ServiceHttpProtocol") -> None:
        super().__init__(transport, loop)
        self._protocol = protocol

    def close(self) -> None:
        self._protocol.close_gracefully()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


class ServiceHttpProtocol(HttpToolsProtocol):
    """The protocol every service serves HTTP with (`shared.server.serve`)."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 guard: ConnectionGuard) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._limits = guard.limits
        self._raw: asyncio.Transport | None = None
        self._phase = _HEAD
        self._message_open = False  # a request has begun and not been read to its end
        self._drained = 0
        self._send_stalled = False  # writing paused: the client's buffers are full
        self._deadline_before_stall = math.inf
        self.deadline = math.inf  # on the loop's clock; the guard calls deadline_passed

    @property
    def lingering(self) -> bool:
        return self._phase is _LINGER

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._raw = transport
        # Flow control and addresses keep the real transport; responses use the wrapper.
        self.transport = _ClosingTransport(transport, self.loop, self)  # type: ignore[assignment]
        self._guard.watch(self, self.loop)
        try:
            self._guard.admit(self, self.client[0] if self.client else "")
        except Refusal as refusal:
            _log.warning("connection_refused", reason=refusal.code,
                         client_ip=self.client[0] if self.client else None)
            self._answer(problem_response(503, refusal.code, refusal.detail,
                                          (b"retry-after", b"1")))
            return
        # A connection that never sends a byte is timed like one that sends half a head.
        self.deadline = self._guard.now + self._guard.head_allowance

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase is _LINGER:
            self._drained += len(data)
            if self._drained > self._limits.linger_max_bytes:
                self._close_now()
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self._phase is _LINGER:
            self._close_now()

    # Flow control: a response the client does not take

    def pause_writing(self) -> None:
        super().pause_writing()
        self._send_stalled = True
        self._deadline_before_stall = self.deadline
        self.deadline = self._guard.now + self._guard.send_allowance

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_stalled:
            self._send_stalled = False
            self.deadline = self._deadline_before_stall

    # Parser callbacks: each moves the deadline

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._message_open = True
        if self._phase is not _HEAD:  # a head on a kept-alive connection
            self._phase = _HEAD
            self.deadline = self._guard.now + self._guard.head_allowance

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY
        self.deadline = self._guard.now + self._guard.body_allowance

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.deadline = self._guard.now + self._guard.body_allowance

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._message_open = False
        self._phase = _SERVING
        self.deadline = math.inf  # the application's own timeouts apply from here

    # Answers made below the application

    def send_400_response(self, msg: str) -> None:
        _log.warning("invalid_http", client_ip=self.client[0] if self.client else None)
        self._answer(problem_response(400, "invalid_http",
                                      "The request is not valid HTTP/1.1"))

    def deadline_passed(self) -> None:
        client_ip = self.client[0] if self.client else None
        if self._send_stalled:
            # Nothing can be said to a client that reads nothing: drop the unsent rest
            # (close() would wait for it to flush) and let the application see a disconnect.
            _log.warning("send_timeout", client_ip=client_ip)
            assert self._raw is not None
            self._raw.abort()
            return
        if self._phase is _LINGER:
            self._close_now()
            return
        if self._phase is _HEAD and not self._message_open:
            _log.info("connection_idle_timeout", client_ip=client_ip)
            self._close_now()  # connected and sent nothing: nothing to answer
            return
        _log.warning("request_timeout", phase=self._phase.value, client_ip=client_ip)
        cycle = self.cycle
        if self._phase is _BODY and cycle is not None:
            if cycle.response_started:  # answered already (a 401 before the body, say)
                self._close_now()
                return
            # The application is waiting for body that will not come: it sees a disconnect,
            # and anything it still sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        detail = ("The request head was not received in time" if self._phase is _HEAD
                  else "The request body stopped arriving")
        self._answer(problem_response(408, "request_timeout", detail))

    def _answer(self, response: bytes) -> None:
        assert self._raw is not None
        if self._raw.is_closing():
            return
        self.transport.write(response)
        self._message_open = True  # whatever the client is still sending is unread
        self.close_gracefully()

    # Closing

    def close_gracefully(self) -> None:
        """Close; when the client may still be sending, half-close and drain first."""
        raw = self._raw
        if raw is None or raw.is_closing():
            return
        if self._phase is _LINGER or not self._message_open or not raw.can_write_eof():
            self._close_now()
            return
        transport: CombiningTransport = self.transport  # type: ignore[assignment]
        transport.flush()
        self._phase = _LINGER
        self._drained = 0
        self.deadline = self._guard.now + self._guard.linger_allowance
        raw.write_eof()
        raw.resume_reading()  # uvicorn pauses reading under a large body

    def _close_now(self) -> None:
        raw = self._raw
        if raw is None or raw.is_closing():
            return
        transport: CombiningTransport = self.transport  # type: ignore[assignment]
        transport.flush()
        raw.close()
