"""Distinct client source addresses for tests: Linux lets a client bind any address in
127.0.0.0/8, so each test gets its own real client IP (its own rate-limit bucket) without
trusting forwarded headers. One pool for the whole session: no two callers share one."""

from collections.abc import Iterator

_pool: Iterator[str] = (
    f"127.{a}.{b}.{c}" for a in range(2, 250) for b in range(256) for c in range(1, 255)
)


def next_client_address() -> str:
    """An address in 127.0.0.0/8 that no test of this session has used yet."""
    return next(_pool)
