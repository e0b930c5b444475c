"""Distinct client source addresses for tests: Linux lets a client bind any address in
127.0.0.0/8, so each test gets its own real client IP (its own rate-limit bucket) without
trusting forwarded headers. One pool for the whole session: no two callers share one."""

from collections.abc import Iterator

import httpx

_pool: Iterator[str] = (
    f"127.{a}.{b}.{c}" for a in range(2, 250) for b in range(256) for c in range(1, 255)
)


def next_client_address() -> str:
    """An address in 127.0.0.0/8 that no test of this session has used yet."""
    return next(_pool)


class ClientFactory:
    """`make()`: an httpx client of `base_url` from a fresh client address (or the one
    given); `aclose()` closes every client it made."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._clients: list[httpx.AsyncClient] = []

    def __call__(self, base_url: str | None = None,
                 address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address or next_client_address())
        client = httpx.AsyncClient(base_url=base_url or self.base_url, transport=transport,
                                   timeout=self.timeout)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
