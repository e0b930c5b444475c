"""Async engine over psycopg 3, readiness probe, and the one place DB outages become 503."""

from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from shared import get_logger, retry_with_backoff, tracing_enabled
from shared.web import problem_response
from user_service.config import Settings
from user_service.metrics import DB_ERRORS, watch_pool

_log = get_logger("db")
RETRY_AFTER_SECONDS = "2"


def create_engine(settings: Settings) -> AsyncEngine:
    """A bounded pool; creating it does not connect, so the service starts without PostgreSQL."""
    return create_async_engine(
        settings.DATABASE_URL,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        # No pre-ping: it costs a round trip on every checkout. After a PostgreSQL restart
        # the first statement on a dead connection fails as a disconnect, SQLAlchemy then
        # invalidates every older pooled connection at once, and that request gets a 503
        # (install_database_error_handler); the next ones get fresh connections.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": settings.DB_CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={settings.DB_STATEMENT_TIMEOUT_MS}",
            "application_name": settings.SERVICE_NAME,
        },
    )


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same pool in autocommit mode, for single-statement reads: a transaction around
    one SELECT only adds a BEGIN and a ROLLBACK round trip."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def observe(engine: AsyncEngine) -> None:
    """Pool gauges for /metrics, and a span per statement when tracing is on."""
    watch_pool(engine)
    if tracing_enabled():
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without an implicit (sync) load.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """`SELECT 1`; raises when PostgreSQL is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def warm_up(engine: AsyncEngine) -> None:
    """Retry until PostgreSQL answers once (logs with backoff while it is late)."""
    await retry_with_backoff(lambda: ping(engine), what="postgresql", max_delay=5.0)
    _log.info("database_reachable")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a SQLAlchemy error means 'database not usable right now' (vs. a bug)."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True  # pool timeout, connection refused/lost, statement timeout, admin shutdown
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def unavailable_response() -> Response:
    return problem_response(
        503, "database_unavailable", "The user database is temporarily unavailable",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _on_db_error(_: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        DB_ERRORS.labels("unavailable").inc()
        _log.warning("database_unavailable", error=type(exc).__name__,
                     cause=type(getattr(exc, "orig", None) or exc).__name__)
        return unavailable_response()
    DB_ERRORS.labels("other").inc()
    _log.error("database_error", exc_info=exc)
    return problem_response(500, "internal_error", "Internal server error")


def install_database_error_handler(app: FastAPI) -> None:
    """Map connection failures and pool timeouts, wherever they surface, to 503 problem+json."""
    app.add_exception_handler(sa_exc.DBAPIError, _on_db_error)
    app.add_exception_handler(sa_exc.TimeoutError, _on_db_error)
