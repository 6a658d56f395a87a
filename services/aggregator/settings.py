from pydantic import Field

from shared.settings import RucnetSettings


class AggregatorSettings(RucnetSettings):
    aggregator_port: int = 8002
    max_body_bytes: int = Field(
        default=262_144, ge=1_000, description="largest HTTP request body (its posts are small)"
    )
    retry_backoff_s: float = Field(
        default=1.0, gt=0, description="pause before a failed event is redelivered"
    )
