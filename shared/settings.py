"""The one settings class, built once in each entry point and passed down."""

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.streams import StreamSpec, parse_streams


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/backtester"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Queue and exchange names start with this, so test runs and deployments can share a broker.
    amqp_prefix: str = "backtester"
    bybit_rest_url: str = "https://api.bybit.com"
    bybit_ws_url: str = "wss://stream.bybit.com/v5/public"
    ingest_streams: str = ""
    # Bybit allows 600 requests per 5 s per IP (120/s); half of that leaves room for other clients.
    ingest_requests_per_second: float = Field(default=60.0, gt=0, le=120)
    ingest_pages_in_flight: int = Field(default=8, ge=1, le=64)
    ingest_pages_per_commit: int = Field(default=10, ge=1, le=100)
    # How long every request to a host waits after it answers 403 (Bybit bans for >= 10 minutes).
    ingest_ban_pause_seconds: float = Field(default=600.0, ge=0)
    ingest_max_retries: int = Field(default=8, ge=0)
    # Simulations run in this many processes beside each engine worker's event loop.
    engine_processes: int = Field(default=1, ge=1, le=64)
    # An HTTP health check on these ports (0: none), for orchestrators.
    engine_health_port: int = Field(default=0, ge=0, le=65535)
    ingest_health_port: int = Field(default=0, ge=0, le=65535)
    # A job (or optimization chunk) running longer fails with "timed out after N s".
    engine_job_timeout_seconds: float = Field(default=600.0, gt=0)
    # Colon-separated directories of strategy plugins, loaded by the API and every engine.
    strategy_path: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_token: str = ""
    # An API request answers within this (reads, writes), a 503 naming PostgreSQL if it stalls.
    api_read_budget_seconds: float = Field(default=3.0, gt=0, le=300)
    api_write_budget_seconds: float = Field(default=4.0, gt=0, le=300)
    # The workers' (engine, ingest) bound on one statement; a longer one is retried as an outage.
    worker_statement_timeout_seconds: float = Field(default=300.0, gt=0)
    log_level: str = "INFO"

    @field_validator("ingest_streams")
    @classmethod
    def _streams_parse(cls, value: str) -> str:
        parse_streams(value)
        return value

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables a service process reads."""
        return {name.upper(): str(value) for name, value in self.model_dump().items()}

    def streams(self) -> list[StreamSpec]:
        return parse_streams(self.ingest_streams)
