"""What the limiter does when the Redis Cluster is in trouble: an in-process sliding
window log with the same semantics (per process), and a circuit breaker that stops
every request from paying the Redis budget while the cluster is down."""

import collections
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import Enum

from shared import get_logger

_log = get_logger("ratelimit")


class FallbackLimiter:
    """Exact sliding-window log per key, bounded to `max_keys` keys (least recently used
    go first). Used only while Redis is unusable; its counts are per gateway process."""

    def __init__(self, max_keys: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # seconds; tests drive their own
        self.max_keys = max_keys
        self._logs: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._logs)

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, int]:
        """(allowed, remaining, ms until the oldest allowed request leaves the window)."""
        now = self._clock()
        log = self._logs.get(key)
        if log is None:
            log = deque()
            self._logs[key] = log
            if len(self._logs) > self.max_keys:
                self._logs.popitem(last=False)
        else:
            self._logs.move_to_end(key)
        cutoff = now - window
        while log and log[0] <= cutoff:
            log.popleft()
        allowed = len(log) < limit
        if allowed:
            log.append(now)
        reset_ms = max(1, math.ceil((log[0] + window - now) * 1000))
        return allowed, limit - len(log), reset_ms


class BreakerState(Enum):
    CLOSED = "closed"  # Redis in use
    OPEN = "open"  # Redis skipped until the cool-down ends
    HALF_OPEN = "half_open"  # one probe request is trying Redis


class CircuitBreaker:
    """Opens after `threshold` consecutive failures, stays open `cooldown` seconds, then
    lets a single probe through; the probe's outcome closes or re-opens it."""

    def __init__(self, threshold: int, cooldown: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # seconds; tests drive their own
        self.threshold = threshold
        self.cooldown = cooldown
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.errors: collections.Counter[str] = collections.Counter()  # all-time, by error
        self._opened_at = 0.0
        self._probe_started = 0.0

    @property
    def degraded(self) -> bool:
        return self.state is not BreakerState.CLOSED

    def allow(self) -> bool:
        """True when this request should try Redis."""
        if self.state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if self.state is BreakerState.OPEN:
            if now - self._opened_at < self.cooldown:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probe_started = now
            return True
        # Half-open with a probe in flight; a probe lost to cancellation must not wedge us.
        if now - self._probe_started > self.cooldown:
            self._probe_started = now
            return True
        return False

    def success(self) -> None:
        if self.state is not BreakerState.CLOSED:
            _log.info("redis_circuit_closed", after_failures=self.failures)
        self.state = BreakerState.CLOSED
        self.failures = 0

    def failure(self, error: str) -> None:
        self.errors[error] += 1
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.failures >= self.threshold
        ):
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()
            _log.warning("redis_circuit_open", failures=self.failures, error=error,
                         cooldown_s=self.cooldown)
