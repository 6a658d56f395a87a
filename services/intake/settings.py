from pydantic import Field

from shared.settings import RucnetSettings


class IntakeSettings(RucnetSettings):
    intake_port: int = 8000
    republish_on_start: bool = Field(
        default=False,
        description="re-send every stored report at start (an embedded broker that lost its memory)",
    )
    outbox_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="the relay looks at the outbox at least this often (and whenever nudged)",
    )
    token_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="how long a valid API token is trusted without asking the database (0: always ask); "
        "a revocation by another process (the CLI) takes effect within this time",
    )
    aggregator_url: str | None = Field(
        default=None, description="where receipts ask how far a report has come (default: local port)"
    )
    aggregator_port: int = 8002
    cookie_secure: bool = Field(default=False, description="mark the session cookie Secure (behind HTTPS)")
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    max_upload_bytes: int = Field(default=5_000_000, ge=1_000, description="spreadsheet uploads")
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="failed logins per account AND client within login_window_s before each further "
        "attempt from that client waits a doubling delay (5 s up to 15 min); other clients are not held up",
    )
    login_failures_per_client: int = Field(
        default=30, ge=1, description="failed logins per client address (any accounts) within login_window_s"
    )
    login_hashes_per_client: int = Field(
        default=2, ge=1, description="passwords of one client checked at once; more in parallel get 429"
    )
    login_first_delay_s: float = Field(
        default=5.0, gt=0, description="the first delay after the free failures; it doubles up to 15 min"
    )
    login_window_s: float = Field(default=900.0, gt=0)
    rate_limit_per_minute: int = Field(default=120, ge=1, description="API requests per token and minute")
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    @property
    def aggregator_base(self) -> str:
        return (self.aggregator_url or f"http://127.0.0.1:{self.aggregator_port}").rstrip("/")
