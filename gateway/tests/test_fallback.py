"""The in-process limiter has the Redis limiter's semantics; the breaker opens and heals."""

import time

import pytest

from gateway.fallback import BreakerState, CircuitBreaker, FallbackLimiter
from gateway.headers import response_headers, scan_request


def test_fallback_is_an_exact_sliding_window() -> None:
    limiter = FallbackLimiter(max_keys=10)
    results = [limiter.hit("k", 3, 0.3)[0] for _ in range(5)]
    assert results == [True, True, True, False, False]
    allowed, remaining, reset_ms = limiter.hit("k", 3, 0.3)
    assert (allowed, remaining) == (False, 0)
    assert 0 < reset_ms <= 300
    time.sleep(0.32)
    assert [limiter.hit("k", 3, 0.3)[0] for _ in range(4)] == [True, True, True, False]


def test_fallback_is_bounded() -> None:
    limiter = FallbackLimiter(max_keys=3)
    for i in range(10):
        limiter.hit(f"k{i}", 1, 60)
    assert len(limiter) == 3


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=0.1)
    assert breaker.allow()
    breaker.failure("ConnectionError")
    assert breaker.state is BreakerState.CLOSED
    breaker.failure("ConnectionError")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    time.sleep(0.12)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.failure("TimeoutError")
    assert breaker.state is BreakerState.OPEN
    time.sleep(0.12)
    assert breaker.allow()
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


@pytest.mark.parametrize("connection", [b"close, X-Secret", b"x-secret"])
def test_connection_named_headers_are_dropped(connection: bytes) -> None:
    scanned = scan_request([(b"connection", connection), (b"x-secret", b"1"),
                            (b"x-user-id", b"7"), (b"accept", b"*/*")])
    assert scanned.forward == [(b"accept", b"*/*")]
    out = response_headers([(b"Connection", connection), (b"X-Secret", b"1"),
                            (b"Content-Type", b"application/json")])
    assert out == [(b"content-type", b"application/json")]
