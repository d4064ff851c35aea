"""Typed settings: the only module that reads the process environment.

Nested models are set with the ``GIS_`` prefix and ``__`` as delimiter (``GIS_DB__DATA_DIR``,
``GIS_API__PORT``); the conventional ``DATABASE_URL`` and ``REDIS_URL`` are read too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root when the package runs from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parent.parent


class DatabaseSettings(BaseModel):
    """Where the database lives: a given server, or the private cluster."""

    data_dir: Path = Field(
        default=Path(".gis-platform"),
        description="Directory of the private cluster and other local state.",
    )
    preferred_port: int = Field(default=54329, ge=1024, le=65535)
    os_user: str = Field(
        default="postgres", description="Unprivileged OS user that runs the cluster as root."
    )
    database: str = Field(default="gis_platform", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    superuser: str = Field(default="gis", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    pg_bin_dir: Path | None = Field(
        default=None, description="PostgreSQL binaries; found under /usr/lib/postgresql."
    )
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=30_000, ge=100)
    connect_timeout_s: float = Field(default=5.0, gt=0)


class ApiSettings(BaseModel):
    """HTTP server settings."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    title: str = "Ward GIS Platform"
    public_url: str | None = Field(default=None, description="Base URL used in links when behind a proxy.")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to call the read APIs from browsers (JSON list); [] turns CORS off.",
    )


class Settings(BaseSettings):
    """Root settings object; build one with :func:`get_settings` or directly in tests."""

    model_config = SettingsConfigDict(
        env_prefix="GIS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "GIS_DATABASE_URL"),
        description="An existing PostgreSQL+PostGIS server; unset means the private cluster.",
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "GIS_REDIS_URL"))
    db: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    sources_dir: Path = Field(
        default=REPO_ROOT / "layers" / "sources" / "hcmc",
        description="Real HCMC source data (copied from shared/data with its licences).",
    )
    migrations_dir: Path = REPO_ROOT / "migrations"
    log_json: bool = False

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def data_dir(self) -> Path:
        """Absolute platform data directory."""
        return self.db.data_dir.resolve()

    @property
    def uses_private_cluster(self) -> bool:
        """True when no external server is configured."""
        return self.database_url is None


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
