from pydantic import Field

from shared.settings import RucnetSettings


class ClassifierSettings(RucnetSettings):
    classifier_port: int = 8001
    review_threshold: float = Field(default=0.5, ge=0, le=1)
