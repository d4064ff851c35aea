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
    statement_timeout_ms: int = Field(default=10_000, ge=1, description="Requests of no other kind (pool's).")
    tiles_statement_timeout_ms: int = Field(default=5_000, ge=1, description="Tile statements.")
    features_statement_timeout_ms: int = Field(default=15_000, ge=1, description="OGC API - Features pages.")
    stats_statement_timeout_ms: int = Field(default=10_000, ge=1, description="Statistics requests.")
    download_statement_timeout_ms: int = Field(default=120_000, ge=1, description="Whole-layer downloads.")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    pool_timeout_s: float = Field(
        default=20.0, gt=0, description="Longest wait for a pooled connection while all are busy (then 503)."
    )
    replica_max_lag_s: float = Field(default=5.0, gt=0, description="Replicas lagging more serve no reads.")
    replica_check_interval_s: float = Field(default=1.0, gt=0)


class RateLimitSettings(BaseModel):
    """Rate limits (``limits`` notation: ``"60/minute"``, ``"10/second;300/hour"``) per client IP and per token.

    Writes are POST/PATCH/PUT/DELETE; expensive reads are downloads, statistics values and choropleths, and
    items pages with a filter or a limit above ``big_page``. The client IP is the one uvicorn reports:
    ``X-Forwarded-For`` counts only from the proxies in uvicorn's ``--forwarded-allow-ips``
    (``FORWARDED_ALLOW_IPS``, default 127.0.0.1). Counters are per process unless ``REDIS_URL`` is set.
    """

    enabled: bool = True
    writes_per_ip: str = "120/minute"
    writes_per_bearer: str = "60/minute"
    expensive_reads_per_ip: str = "300/minute"
    expensive_reads_per_bearer: str = "600/minute"
    big_page: int = Field(default=1000, ge=1, description="Items pages above this limit are expensive reads.")
    redis: bool = Field(default=True, description="Share the counters through REDIS_URL when it is set.")
    redis_prefix: str = Field(default="gis:rl", pattern=r"^[A-Za-z0-9:_.-]{1,64}$")


class ApiSettings(BaseModel):
    """HTTP server settings."""

    max_body_kb: int = Field(default=1024, ge=1, description="Largest body (413); uploads: ingest limit.")
    rate_limit: RateLimitSettings = RateLimitSettings()

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    title: str = "Ward GIS Platform"
    public_url: str | None = Field(default=None, description="Base URL used in links when behind a proxy.")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins allowed to call the read APIs from browsers (JSON list); [] turns CORS off.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans, metrics and logs through the global providers (configure them "
        "with opentelemetry-instrument). Off by default: looking the providers up costs ~25 µs per request.",
    )


class TileSettings(BaseModel):
    """Vector tiles: cache tiers, zoom limits and the defaults of layers without tile settings."""

    cache_dir: Path = Field(default=REPO_ROOT / "tiles" / "cache", description="Disk tier of the tile cache.")
    disk_cache: bool = True
    memory_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0, description="Memory tier bound (bytes).")
    redis: bool = Field(default=True, description="Use REDIS_URL as the shared tier when it is set.")
    redis_prefix: str = Field(default="gis:tiles:", pattern=r"^[A-Za-z0-9:_.-]{1,64}$")
    redis_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    styles_dir: Path = Field(default=REPO_ROOT / "tiles" / "styles", description="Hand-written layer styles.")
    glyphs_url: str | None = Field(default=None, description="Font glyphs for label layers in styles.")
    max_zoom: int = Field(default=24, ge=0, le=30, description="No tile is served beyond this zoom.")
    default_minzoom: int = Field(default=0, ge=0, le=30)
    default_maxzoom: int = Field(default=16, ge=0, le=30)
    default_buffer: int = Field(default=64, ge=0, le=4096)
    grid_cells: int = Field(default=64, ge=4, le=1024, description="Thinning/clustering cells per tile side.")
    max_features_per_tile: int = Field(default=5000, ge=100, description="Above this a tile is thinned.")
    pool_max_size: int = Field(default=8, ge=1, description="Connections for tile statements (per server).")
    gzip_level: int = Field(default=3, ge=1, le=9)
    gzip_before_answer: bool = Field(default=False, description="Gzip a new tile before its first answer.")
    catalogue_ttl_s: float = Field(default=10.0, gt=0, description="Re-read the catalogue this often.")
    unversioned_max_age_s: int = Field(default=60, ge=0)


class IngestSettings(BaseModel):
    """Limits and staging of file uploads and imports."""

    max_upload_mb: float = Field(default=512, gt=0, description="Largest accepted upload (HTTP 413 above).")
    max_uncompressed_mb: float = Field(
        default=4096, gt=0, description="Largest total size of an archive's members once extracted."
    )
    max_compression_ratio: float = Field(
        default=100, gt=1, description="Zip members inflating more are refused."
    )
    max_vertices: int = Field(default=1_000_000, ge=4, description="Most vertices one geometry may have.")
    max_columns: int = Field(
        default=1000, ge=1, le=1500, description="Most attribute columns a file may have."
    )
    staging_dir: Path | None = Field(
        default=None,
        description="Where uploads are staged; the system temp dir's gis-platform-ingest when unset.",
    )
    workers: int = Field(default=2, ge=1, le=32, description="Ingest jobs run at once per API process.")


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
    database_replica_urls: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_REPLICA_URLS", "GIS_DATABASE_REPLICA_URLS"),
        description="Comma-separated streaming replicas for reads (tiles, features, catalogue, statistics).",
    )
    db: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    ingest: IngestSettings = IngestSettings()
    tiles: TileSettings = TileSettings()
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
    def replica_urls(self) -> list[str]:
        """The read replicas, in order."""
        return [u.strip() for u in self.database_replica_urls.split(",") if u.strip()]

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
