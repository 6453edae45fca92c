"""Settings, read from the environment (`SERA_` prefix) and an optional `.env` file."""

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import catalogue

DEFAULT_CATALOGUE = Path(catalogue.__file__).parent / "prim2" / "catalogue.yaml"


class Settings(BaseSettings):
    """Every setting the product reads; tests build their own instead of touching the environment."""

    model_config = SettingsConfigDict(env_prefix="SERA_", env_file=".env", env_ignore_empty=True, extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/sera.db",
        description="SQLAlchemy URL; a SQLite file by default, postgresql://… in production.",
    )
    catalogue: Path = Field(default=DEFAULT_CATALOGUE, description="The catalogue YAML file to load and serve.")
    log_level: str = "INFO"
    secret_key: SecretStr = Field(
        default=SecretStr(""), description="Encrypts secrets typed into `sera connections add` (Fernet)."
    )
    suppression_threshold: int = Field(
        default=5, ge=0, description="Person counts below this are hidden from partner and viewer tokens (0: off)."
    )
    hook_max_bytes: int = Field(
        default=2_000_000,
        ge=1,
        description="Largest Kobo webhook delivery accepted, in bytes: a larger one is answered 413 without being "
        "read whole (the next pull still brings that submission).",
    )
    person_key_secret: SecretStr = Field(
        default=SecretStr(""), description="Key of the pseudonymous person hash; set it in production."
    )

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        """Plain postgres URLs get the psycopg 3 driver, the one the product ships."""
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
