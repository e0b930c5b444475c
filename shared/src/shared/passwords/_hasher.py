"""argon2id hashing off the event loop, in a bounded pool of threads behind a bounded queue.

argon2-cffi releases the GIL while hashing, so threads give real parallelism, and
bounding them keeps a login storm from starving everything else on the machine. The wait
in front of them is bounded too: past `max_queued` waiting operations a new one is refused
at once (HashingBusy) instead of growing memory and every caller's latency without limit."""

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter, Gauge, Histogram

T = TypeVar("T")

HASH_SECONDS = Histogram(
    "password_hash_seconds", "argon2id work per operation, excluding time queued",
    ["operation"], buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0),
)
HASH_QUEUED = Gauge("password_hash_queued", "argon2id operations waiting for a hashing slot")
HASH_RUNNING = Gauge("password_hash_running", "argon2id operations running on a hashing thread")
HASH_WAIT_SECONDS = Histogram(
    "password_hash_wait_seconds", "Time an admitted argon2id operation waited for a slot",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HASH_REFUSED = Counter(
    "password_hash_refused_total", "argon2id operations refused: every slot busy, queue full",
    ["operation"],
)

# A queue this deep on one hashing thread is ~1.5 s of waiting at the OWASP parameters
# (docs/operations.md sizes it); far below the gateway's upstream read timeout.
DEFAULT_QUEUE_LIMIT = 64

# Hashing threads yield to every other task: a login storm then takes the CPU the event
# loops (ours, the other services', PostgreSQL's, Redis's) leave idle, instead of competing
# with every other request for it. Nice 10 alone was not enough on two cores: the scheduler
# let a running hash finish its slice before a woken request ran (the W3 figures are in
# docs/performance.md); SCHED_IDLE tasks are preempted at once, and still
# get a small share (not starved) when the machine is saturated.
HASH_THREAD_NICENESS = 10


def _lower_thread_priority() -> None:
    # Linux schedules threads as tasks, so a thread's own id takes its own policy and nice
    # value; both changes need no privilege. Elsewhere this is a no-op.
    with contextlib.suppress(AttributeError, OSError):
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, HASH_THREAD_NICENESS))
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """OWASP's recommended argon2id baseline by default: m=19 MiB, t=2, p=1."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    valid: bool
    needs_rehash: bool = False


class HashingBusy(Exception):
    """Every hashing slot is busy and the wait queue is full: refused, no work done."""


class PasswordHasher:
    """Async argon2id hash/verify: at most `max_concurrency` running, at most `max_queued`
    waiting for a slot, the rest refused with HashingBusy."""

    def __init__(self, params: Argon2Params | None = None, *, max_concurrency: int = 2,
                 max_queued: int = DEFAULT_QUEUE_LIMIT) -> None:
        if max_concurrency < 1 or max_queued < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queued >= 0")
        self.params = params or Argon2Params()
        self._argon2 = _Argon2(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost_kib,
            parallelism=self.params.parallelism,
            hash_len=self.params.hash_len,
            salt_len=self.params.salt_len,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_concurrency, thread_name_prefix="argon2", initializer=_lower_thread_priority)
        # The bound is ours, not the executor's: its internal queue is unbounded.
        self._slots = asyncio.Semaphore(max_concurrency)
        self.max_queued = max_queued
        self._dummy_hash: str | None = None
        self.queued = 0  # waiting for a slot; exported as a metric
        self.running = 0  # holding a slot

    async def hash(self, password: str) -> str:
        """A new argon2id hash of `password` with the current parameters."""
        return await self._offload("hash", self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> PasswordCheck:
        """Whether `password` matches, and whether the stored hash should be upgraded."""
        return await self._offload("verify", self._verify_sync, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the same work as a real verification (unknown account: no timing leak)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("dummy-password-for-timing-parity")
        await self.verify(self._dummy_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> PasswordCheck:
        try:
            self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(valid=False)
        needs_rehash = self._argon2.check_needs_rehash(password_hash)
        return PasswordCheck(valid=True, needs_rehash=needs_rehash)

    async def _offload(self, operation: str, fn: Callable[..., T], *args: object) -> T:
        def timed() -> T:
            started = time.perf_counter()
            try:
                return fn(*args)
            finally:
                HASH_SECONDS.labels(operation).observe(time.perf_counter() - started)

        await self._acquire_slot(operation)
        self.running += 1
        HASH_RUNNING.inc()
        future = asyncio.get_running_loop().run_in_executor(self._executor, timed)
        # The slot is given back when the thread is done, not when the caller stops
        # waiting: a cancelled request must not let more hashes run than there are slots.
        future.add_done_callback(self._release_slot)
        return await asyncio.shield(future)

    async def _acquire_slot(self, operation: str) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # a slot is free: no wait, never queued
            HASH_WAIT_SECONDS.observe(0.0)
            return
        if self.queued >= self.max_queued:
            HASH_REFUSED.labels(operation).inc()
            raise HashingBusy
        self.queued += 1
        HASH_QUEUED.inc()
        started = time.perf_counter()
        try:
            await self._slots.acquire()
        finally:
            self.queued -= 1
            HASH_QUEUED.dec()
        HASH_WAIT_SECONDS.observe(time.perf_counter() - started)

    def _release_slot(self, future: "asyncio.Future[Any]") -> None:
        if not future.cancelled():
            future.exception()  # retrieved: a caller that gave up leaves no "never retrieved"
        self.running -= 1
        HASH_RUNNING.dec()
        self._slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
