"""The RESP2 codec the cluster client speaks."""

import pytest

from shared.redis import ProtocolError, ReplyError, ReplyParser, encode, encode_many


def test_encode_is_an_array_of_bulk_strings() -> None:
    assert encode("EVALSHA", b"ab", 1, "k\u00e9") == (
        b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\nk\xc3\xa9\r\n")
    assert encode_many([("ASKING",), ("PING",)]) == encode("ASKING") + encode("PING")


def test_parses_every_reply_type() -> None:
    parser = ReplyParser()
    parser.feed(b"+OK\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n"
                b"-ERR x\r\n-MOVED 3999 127.0.0.1:6381\r\n")
    replies = parser.replies()
    assert replies[:6] == [b"OK", 42, b"abc", None, None, [1, [b""]]]
    error, moved = replies[6:]
    assert isinstance(error, ReplyError)
    assert error.kind == "ERR"
    assert isinstance(moved, ReplyError)
    assert moved.kind == "MOVED"
    assert str(moved) == "MOVED 3999 127.0.0.1:6381"


def test_a_reply_split_anywhere_is_reassembled() -> None:
    wire = b"*4\r\n:1\r\n:29\r\n:60000\r\n$9\r\nmember.17\r\n+PONG\r\n"
    for cut in range(1, len(wire)):
        parser = ReplyParser()
        parser.feed(wire[:cut])
        first = parser.replies()
        parser.feed(wire[cut:])
        assert first + parser.replies() == [[1, 29, 60000, b"member.17"], b"PONG"], cut


def test_garbage_is_a_protocol_error() -> None:
    parser = ReplyParser()
    parser.feed(b"?what\r\n")
    with pytest.raises(ProtocolError):
        parser.replies()
