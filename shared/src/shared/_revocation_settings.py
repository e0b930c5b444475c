"""Settings of a verifier's revocation feed (issue 16; docs/revocation.md), identical in
every service that verifies access tokens."""

from pydantic import PositiveFloat, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RevocationSettings(BaseSettings):
    """How a verifier follows the revocation log (`rev:{log}` in the Redis Cluster)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Follow the revocation log and refuse revoked access tokens (off: revoked tokens
    # keep working until their `exp`); refused off in production
    REVOCATION_FEED_ENABLED: bool = True
    # How far back the log is read at start: the access-token lifetime (the auth service's
    # ACCESS_TOKEN_TTL_SECONDS; no revocation matters longer than a token lives)
    REVOCATION_RETENTION_SECONDS: PositiveInt = 900
    # Out of touch with the log longer than this (Redis down, partitioned, the feed not
    # caught up since start): protected routes answer 503 `revocation_unavailable`
    REVOCATION_MAX_STALENESS_SECONDS: PositiveFloat = 30.0
    # How long one blocking read (XREAD BLOCK) waits; a silent node is noticed after this
    # plus the socket timeout
    REVOCATION_BLOCK_MS: PositiveInt = 1000

    @model_validator(mode="after")
    def _feed_on_in_production(self) -> "RevocationSettings":
        if not self.REVOCATION_FEED_ENABLED and getattr(self, "ENVIRONMENT", "") == "production":
            raise ValueError("REVOCATION_FEED_ENABLED=false is never allowed in production")
        if self.REVOCATION_MAX_STALENESS_SECONDS * 1000 <= self.REVOCATION_BLOCK_MS:
            raise ValueError("REVOCATION_MAX_STALENESS_SECONDS must exceed REVOCATION_BLOCK_MS")
        return self
