"""The argon2id parameters, read alike by every process that hashes (the auth service,
and the user service's `create-admin`)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.passwords._hasher import Argon2Params


class PasswordSettings(BaseSettings):
    """The ARGON2_* environment variables."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # argon2id passes (OWASP baseline); hashes made with other parameters are upgraded on login
    ARGON2_TIME_COST: int = Field(default=2, ge=1)
    ARGON2_MEMORY_COST_KIB: int = Field(default=19456, ge=8)  # 19 MiB
    ARGON2_PARALLELISM: int = Field(default=1, ge=1)  # lanes per hash

    @property
    def argon2_params(self) -> Argon2Params:
        return Argon2Params(
            time_cost=self.ARGON2_TIME_COST,
            memory_cost_kib=self.ARGON2_MEMORY_COST_KIB,
            parallelism=self.ARGON2_PARALLELISM,
        )
