"""The in-process limiter has the Redis limiter's semantics; the breaker opens and heals."""

import pytest

from gateway.fallback import BreakerState, CircuitBreaker, FallbackLimiter
from gateway.headers import response_headers, scan_request


class Clock:
    """Seconds that pass only when the test says so: verdicts never depend on how fast
    the machine runs the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fallback_is_an_exact_sliding_window() -> None:
    clock = Clock()
    limiter = FallbackLimiter(max_keys=10, clock=clock)
    results = [limiter.hit("k", 3, 3.0)[0] for _ in range(5)]
    assert results == [True, True, True, False, False]
    allowed, remaining, reset_ms = limiter.hit("k", 3, 3.0)
    assert (allowed, remaining) == (False, 0)
    assert reset_ms == 3000
    clock.now += 2
    assert limiter.hit("k", 3, 3.0) == (False, 0, 1000)  # the oldest leaves 3 s after it came
    clock.now += 1
    assert [limiter.hit("k", 3, 3.0)[0] for _ in range(4)] == [True, True, True, False]


def test_fallback_is_bounded() -> None:
    limiter = FallbackLimiter(max_keys=3)
    for i in range(10):
        limiter.hit(f"k{i}", 1, 60)
    assert len(limiter) == 3


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=0.1, clock=clock)
    assert breaker.allow()
    breaker.failure("ConnectionError")
    assert breaker.state is BreakerState.CLOSED
    breaker.failure("ConnectionError")
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 0.09
    assert not breaker.allow()  # still cooling down
    clock.now += 0.02
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.failure("TimeoutError")
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.11
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
