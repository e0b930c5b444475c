"""User-service Prometheus metrics: the database pool and its errors."""

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

DB_ERRORS = Counter(
    "user_db_errors_total", "Database errors answered by the service",
    ["kind"],  # unavailable (-> 503) | other (-> 500)
)
DB_POOL_CHECKED_OUT = Gauge("user_db_pool_checked_out", "Pooled connections in use")
DB_POOL_SIZE = Gauge("user_db_pool_size", "Connections the pool holds open")
DB_POOL_OVERFLOW = Gauge("user_db_pool_overflow", "Connections beyond the pool size in use")


def watch_pool(engine: AsyncEngine) -> None:
    """Read the pool's state at scrape time (nothing is counted per request)."""
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        DB_POOL_CHECKED_OUT.set_function(pool.checkedout)
        DB_POOL_SIZE.set_function(pool.size)
        DB_POOL_OVERFLOW.set_function(lambda: max(pool.overflow(), 0))
