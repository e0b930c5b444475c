"""Auth-specific Prometheus metrics (HTTP and hashing metrics come from shared)."""

from prometheus_client import Counter

LOGINS = Counter(
    "auth_logins_total", "Login attempts by outcome",
    ["outcome"],  # success | invalid_credentials | throttled
)
REFRESHES = Counter(
    "auth_refreshes_total", "Refresh-token presentations by outcome",
    ["outcome"],  # rotated | replay | reused | invalid | user_inactive
)
REUSE_DETECTIONS = Counter(
    "auth_refresh_reuse_detections_total",
    "Spent refresh tokens presented after the grace window (their family was revoked)",
)

STORE_RETRIES = Counter(
    "auth_state_store_retries_total",
    "Redis calls tried again within the request's wait budget (failover, frozen node)",
    ["operation"],
)
UNREPLICATED_WRITES = Counter(
    "auth_state_store_unreplicated_writes_total",
    "Writes that had to survive a failover but no replica acknowledged in time",
    ["operation", "reason"],  # reason: no_replica | no_ack
)
