from pydantic import Field

from shared.settings import RucnetSettings


class IntakeSettings(RucnetSettings):
    intake_port: int = 8000
    republish_on_start: bool = Field(
        default=False,
        description="re-send every stored report at start (an embedded broker that lost its memory)",
    )
    outbox_interval_s: float = Field(default=5.0, gt=0)
