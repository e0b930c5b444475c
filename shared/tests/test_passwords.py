import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from shared.passwords import HASH_THREAD_NICENESS, Argon2Params, HashingBusy, PasswordHasher

FAST = Argon2Params(time_cost=1, memory_cost_kib=1024)


async def test_hash_and_verify() -> None:
    hasher = PasswordHasher(FAST)
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert (await hasher.verify(stored, "correct horse battery staple")).valid
    assert not (await hasher.verify(stored, "wrong password!!")).valid
    assert not (await hasher.verify("not-a-hash", "whatever")).valid
    hasher.close()


async def test_changed_parameters_ask_for_a_rehash() -> None:
    old = PasswordHasher(FAST)
    stored = await old.hash("correct horse battery staple")
    new = PasswordHasher(Argon2Params(time_cost=2, memory_cost_kib=2048))
    check = await new.verify(stored, "correct horse battery staple")
    assert check.valid
    assert check.needs_rehash
    assert not (await old.verify(stored, "correct horse battery staple")).needs_rehash
    old.close()
    new.close()


async def test_hashing_runs_off_the_event_loop() -> None:
    hasher = PasswordHasher(Argon2Params(time_cost=3, memory_cost_kib=32 * 1024), max_concurrency=1)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    tick_task = asyncio.create_task(ticker())
    await asyncio.gather(*(hasher.hash(f"password-{i}-long-enough") for i in range(4)))
    tick_task.cancel()
    # Were hashing on the loop, the ticker could not run between hashes.
    assert ticks > 10
    assert (hasher.queued, hasher.running) == (0, 0)
    hasher.close()


async def test_hashing_threads_run_at_lower_priority() -> None:
    hasher = PasswordHasher(FAST, max_concurrency=1)

    def scheduling() -> tuple[int, int]:
        tid = threading.get_native_id()
        return os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)

    loop_niceness, loop_policy = scheduling()
    thread_niceness, thread_policy = await hasher._offload("probe", scheduling)
    assert thread_niceness == max(loop_niceness, HASH_THREAD_NICENESS)
    assert thread_niceness > loop_niceness or loop_niceness >= HASH_THREAD_NICENESS
    assert loop_policy == os.SCHED_OTHER  # the event loop keeps its normal policy
    assert thread_policy == os.SCHED_IDLE  # hashing runs only when nothing else wants a CPU
    hasher.close()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(6000):  # a deadline for a state, never a verdict on speed
        if condition():
            return
        await asyncio.sleep(0.005)


async def test_beyond_the_queue_bound_hashing_is_refused_at_once() -> None:
    hasher = PasswordHasher(FAST, max_concurrency=1, max_queued=2)
    release = threading.Event()
    # The only slot is held by a thread that waits for us: deterministic, whatever the speed.
    holder = asyncio.create_task(hasher._offload("probe", release.wait, 60))
    await _until(lambda: hasher.running == 1)
    waiters = [asyncio.create_task(hasher.hash(f"queued password {i}")) for i in range(2)]
    await _until(lambda: hasher.queued == 2)
    with pytest.raises(HashingBusy):
        await hasher.hash("one too many")
    with pytest.raises(HashingBusy):
        await hasher.verify("$argon2id$unused", "one too many")
    assert (hasher.queued, hasher.running) == (2, 1)  # the refusals took no place
    release.set()
    assert await holder
    assert all(digest.startswith("$argon2id$") for digest in await asyncio.gather(*waiters))
    assert (hasher.queued, hasher.running) == (0, 0)
    hasher.close()


async def test_a_caller_that_gives_up_keeps_its_slot_until_the_thread_is_done() -> None:
    hasher = PasswordHasher(FAST, max_concurrency=1, max_queued=0)
    release = threading.Event()
    holder = asyncio.create_task(hasher._offload("probe", release.wait, 60))
    await _until(lambda: hasher.running == 1)
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    # The thread still runs: a new operation must not get a second one.
    assert hasher.running == 1
    with pytest.raises(HashingBusy):
        await hasher.hash("no free slot yet")
    release.set()
    await _until(lambda: hasher.running == 0)
    assert (await hasher.hash("a slot again")).startswith("$argon2id$")
    hasher.close()
