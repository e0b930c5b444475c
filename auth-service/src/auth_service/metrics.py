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
