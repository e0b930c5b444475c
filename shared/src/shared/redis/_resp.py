"""RESP2, the Redis wire protocol: encoding commands and parsing replies incrementally.

Only what the gateway's cluster client needs: commands are arrays of bulk strings, and
replies are any RESP2 type. Error replies are returned as `ReplyError` values (not
raised) so a pipelined connection can hand each caller its own reply."""

from collections.abc import Sequence

Arg = bytes | str | int


class ReplyError(Exception):
    """An error reply from Redis, e.g. `MOVED 3999 127.0.0.1:6381`."""

    @property
    def kind(self) -> str:
        """The error's first word: MOVED, ASK, NOSCRIPT, TRYAGAIN, CLUSTERDOWN, ERR, ..."""
        return str(self.args[0]).split(" ", 1)[0]

    @property
    def transient(self) -> bool:
        """The cluster or node is in trouble (failover, loading, busy), not the command."""
        return self.kind in _TRANSIENT


_TRANSIENT = frozenset({"CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY",
                        "BUSY", "NOREPLICAS"})


class ProtocolError(Exception):
    """The byte stream is not RESP2; the connection cannot be trusted any more."""


class _Incomplete(Exception):
    """The buffer ends inside a reply; wait for more bytes."""


def encode(*args: Arg) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


def encode_many(commands: Sequence[Sequence[Arg]]) -> bytes:
    """Several commands in one write (one pipeline)."""
    return b"".join(encode(*command) for command in commands)


class ReplyParser:
    """Feed bytes, take whole replies. Replies are small here (a script's four values, a
    slot map), so a reply split across reads is simply parsed again from its start."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def replies(self) -> list[object]:
        out = []
        while self._pos < len(self._buffer):
            start = self._pos
            try:
                out.append(self._parse())
            except _Incomplete:
                self._pos = start
                break
        if self._pos:
            del self._buffer[:self._pos]
            self._pos = 0
        return out

    def _line(self) -> bytes:
        end = self._buffer.find(b"\r\n", self._pos)
        if end < 0:
            raise _Incomplete
        line = bytes(self._buffer[self._pos:end])
        self._pos = end + 2
        return line

    def _parse(self) -> object:
        line = self._line()
        if not line:
            raise ProtocolError("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            end = self._pos + length
            if end + 2 > len(self._buffer):
                raise _Incomplete
            value = bytes(self._buffer[self._pos:end])
            self._pos = end + 2
            return value
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._parse() for _ in range(count)]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        raise ProtocolError(f"unexpected reply type {kind!r}")
