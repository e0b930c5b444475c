"""Auth-specific Prometheus metrics (HTTP and hashing metrics come from shared)."""

from prometheus_client import Counter

LOGINS = Counter(
    "auth_logins_total", "Login attempts by outcome",
    # success | invalid_credentials | throttled | email_not_verified | mfa_required |
    # mfa_success | invalid_mfa_code | mfa_throttled
    ["outcome"],
)
REFRESHES = Counter(
    "auth_refreshes_total", "Refresh-token presentations by outcome",
    ["outcome"],  # rotated | migrated (a legacy family's first) | replay | reused | invalid |
    # user_inactive
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
SESSIONS_ENDED = Counter(
    "auth_sessions_ended_total", "Sessions ended, by why",
    # logout | ended (by its owner) | admin | evicted (per-user bound) | reused | user_inactive
    ["reason"],
)
REVOCATIONS_PUBLISHED = Counter(
    "auth_revocations_published_total",
    "Entries appended to the revocation log (an ended session's access tokens)",
    ["reason"],
)
