"""Liveness and readiness endpoints built from named dependency checks."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from shared.web._errors import problem_response

# A check returns normally when the dependency is usable and raises otherwise.
HealthCheck = Callable[[], Awaitable[None]]


class Readiness:
    """Named readiness checks, each bounded by a timeout."""

    def __init__(self, timeout: float = 1.0) -> None:
        self.timeout = timeout
        self.checks: dict[str, HealthCheck] = {}

    def add(self, name: str, check: HealthCheck) -> None:
        self.checks[name] = check

    async def run(self) -> dict[str, str]:
        """Map of check name to "ok" or a short failure reason."""

        async def one(check: HealthCheck) -> str:
            try:
                await asyncio.wait_for(check(), self.timeout)
            except TimeoutError:
                return "timeout"
            except Exception as exc:
                return type(exc).__name__
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(one(self.checks[n]) for n in names))
        return dict(zip(names, results, strict=True))


def health_router(readiness: Readiness) -> APIRouter:
    """`GET /health/live` (process up) and `GET /health/ready` (dependencies usable)."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @router.get("/health/ready", responses={503: {"description": "A dependency is unavailable"}})
    async def ready() -> Response:
        """Every dependency this service needs is usable."""
        checks = await readiness.run()
        if all(result == "ok" for result in checks.values()):
            return JSONResponse({"status": "ok", "checks": checks})
        return problem_response(
            503,
            "not_ready",
            "A dependency is unavailable",
            headers={"Retry-After": "5"},
            extra={"checks": checks},
        )

    return router
