"""Assembles the user service: settings, lifespan-owned clients, routers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from shared import JwtVerifier, KeySet, RemoteKeySet, get_logger
from shared.passwords import PasswordHasher
from shared.web import Readiness, build_service_app
from user_service import db
from user_service.config import Settings
from user_service.deps import Resources
from user_service.routes import admin, internal, me

_log = get_logger("user_service")


def create_app(settings: Settings | None = None, *, key_set: KeySet | None = None) -> FastAPI:
    """The ASGI app. `key_set` replaces the remote JWKS (tests sign their own tokens)."""
    settings = settings or Settings()
    readiness = Readiness(timeout=2.0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.create_engine(settings)
        db.observe(engine)
        remote = None
        keys = key_set
        if keys is None:
            remote = keys = RemoteKeySet(settings.JWKS_URL, settings.jwt_algorithms)
        verifier = JwtVerifier.from_settings(keys, settings)
        hasher = PasswordHasher()  # only verifies (email change); auth-service hashes
        app.state.resources = Resources(engine, db.reader(engine),
                                        db.create_sessionmaker(engine), verifier, hasher)
        readiness.add("postgres", lambda: db.ping(engine))
        # Start serving at once; PostgreSQL and the JWKS may come up after us.
        background = [asyncio.create_task(db.warm_up(engine))]
        if remote is not None:
            background.append(asyncio.create_task(remote.keep_fresh(
                settings.JWKS_REFRESH_MIN_SECONDS, settings.JWKS_REFRESH_MAX_SECONDS)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await engine.dispose()
            if remote is not None:
                await remote.aclose()
            hasher.close()

    app = build_service_app(
        title="user-service",
        version="0.1.0",
        description="Owner of the users table: profile and administration API.",
        readiness=readiness,
        lifespan=lifespan,
        metrics_host=settings.METRICS_HOST, metrics_port=settings.METRICS_PORT,
    )
    app.state.settings = settings
    db.install_database_error_handler(app)
    # `me` first: /users/me must not be captured by /users/{user_id}.
    app.include_router(me.router)
    app.include_router(admin.router)
    app.include_router(internal.router)
    return app
