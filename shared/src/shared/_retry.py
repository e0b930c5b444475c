"""Exponential backoff for dependencies that come up after us."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared._logging import get_logger

_log = get_logger("retry")
T = TypeVar("T")


async def retry_with_backoff(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    first_delay: float = 0.1,
    max_delay: float = 5.0,
    attempts: int | None = None,
) -> T:
    """Run `operation` until it succeeds, sleeping 0.1 s, 0.2 s, ... (capped, jittered).

    With attempts=None it retries forever: services start before their dependencies."""
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except Exception as exc:
            if attempts is not None and attempt >= attempts:
                raise
            _log.warning("dependency_unavailable", dependency=what, attempt=attempt,
                         error=type(exc).__name__, retry_in_s=round(delay, 2))
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311
            delay = min(delay * 2, max_delay)
