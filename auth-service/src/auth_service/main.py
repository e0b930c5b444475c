"""Assembles the auth service: settings -> app, long-lived clients in the lifespan."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from auth_service import __version__
from auth_service.bodylimit import BodySizeLimitMiddleware
from auth_service.config import Settings
from auth_service.pages import router as pages_router
from auth_service.request_deadline import RequestDeadlineMiddleware
from auth_service.resources import Resources, build_resources
from auth_service.routes import (
    account_router,
    auth_router,
    install_domain_errors,
    jwks_router,
    mfa_router,
    sessions_router,
)
from shared import ClientIpResolver, get_logger, parse_networks
from shared.web import Readiness, build_service_app

_log = get_logger("auth")
SHUTDOWN_TASKS_SECONDS = 5.0  # how long shutdown waits for the key watcher and mail sender


async def _watch_keys(resources: Resources) -> None:
    # Picks up `auth-service rotate-keys` without a restart (the new key is staged, so
    # every process has it before it signs).
    while True:
        await asyncio.sleep(resources.settings.JWT_KEYS_RELOAD_SECONDS)
        resources.keys.reload_if_changed()


def create_app(
    settings: Settings | None = None, *, users_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The auth-service ASGI app; `users_transport` lets tests route to an in-process user
    service."""
    settings = settings or Settings()
    readiness = Readiness(timeout=2.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = build_resources(settings, users_transport)
        app.state.resources = resources
        watcher = asyncio.create_task(_watch_keys(resources))
        mail = (asyncio.create_task(resources.mail_worker.run())
                if settings.MAIL_WORKER_ENABLED else None)
        # Connect now if Redis is up; if not, the first request retries (and answers 503).
        with contextlib.suppress(Exception):
            await resources.redis.ensure_ready()
        try:
            # Compute the dummy hash now so the first unknown-email login costs no more.
            await resources.hasher.verify_dummy("warm-up")
            yield
        finally:
            background = [task for task in (watcher, mail) if task is not None]
            for task in background:
                task.cancel()
            # Bounded: a task that does not stop (a library swallowing the cancellation)
            # must not hold the shutdown; an undelivered mail stays pending in the outbox.
            stuck: set[asyncio.Task[None]] = set()
            if background:
                _, stuck = await asyncio.wait(background, timeout=SHUTDOWN_TASKS_SECONDS)
            if stuck:
                _log.error("background_task_did_not_stop", count=len(stuck))
            await resources.aclose()

    async def redis_ready() -> None:
        await app.state.resources.redis.ping()  # reads the slot map first if needed

    async def users_ready() -> None:
        await app.state.resources.users.live()

    readiness.add("redis", redis_ready)
    readiness.add("user_service", users_ready)
    app = build_service_app(
        title="auth-service", version=__version__, readiness=readiness, lifespan=lifespan,
        metrics_host=settings.METRICS_HOST, metrics_port=settings.METRICS_PORT,
        description="Register, login, refresh rotation, logout, sessions, account lifecycle "
                    "(email verification, password reset and change, email change), MFA "
                    "(TOTP, recovery codes, step-up) and JWKS.",
        # Login throttling and the access log both see the client behind the gateway.
        client_ips=ClientIpResolver(parse_networks(settings.TRUSTED_PROXIES)),
    )
    # Appended, not add_middleware(): innermost, i.e. inside the request-context middleware,
    # so even a 413 carries the request_id.
    app.user_middleware.append(
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES))
    app.user_middleware.append(
        Middleware(RequestDeadlineMiddleware, seconds=settings.REDIS_WAIT_BUDGET_SECONDS))
    install_domain_errors(app)
    app.include_router(auth_router)
    app.include_router(sessions_router)
    app.include_router(account_router)
    app.include_router(mfa_router)
    app.include_router(jwks_router)
    app.include_router(pages_router)
    return app
