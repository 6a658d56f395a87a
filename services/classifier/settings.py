from pathlib import Path

from pydantic import Field

from shared.settings import RucnetSettings


class ClassifierSettings(RucnetSettings):
    classifier_port: int = 8001
    review_threshold: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="also flag below this score (0: only the model's calibrated cut-off)",
    )
    scoring_workers: int = Field(
        default=1, ge=0, le=64, description="processes that score texts (0: a thread of the service)"
    )
    republish_on_start: bool = Field(
        default=False,
        description="re-send every stored override at start (an embedded broker that lost its memory)",
    )
    outbox_interval_s: float = Field(default=5.0, gt=0)
    cookie_secure: bool = Field(
        default=False,
        description="mark the review page's cookies Secure (they are whenever served over https)",
    )
    review_session_ttl_s: float = Field(default=8 * 3600, ge=60)
    max_body_bytes: int = Field(
        default=262_144, ge=1_000, description="largest HTTP request body (its posts are small)"
    )
    retry_backoff_s: float = Field(
        default=1.0, gt=0, description="pause before a failed event is redelivered"
    )

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
