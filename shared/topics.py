"""Versioned topic names: a breaking change gets a new topic, never a reused name."""

REPORTS_SUBMITTED = "rucnet.reports.submitted.v1"
REPORTS_CLASSIFIED = "rucnet.reports.classified.v1"
CLASSIFICATIONS_OVERRIDDEN = "rucnet.classifications.overridden.v1"
DEAD_LETTERS = "rucnet.deadletters.v1"
ATTENDANCE_REPORTED = "rucnet.attendance.reported.v1"

ALL_TOPICS = (
    REPORTS_SUBMITTED,
    REPORTS_CLASSIFIED,
    CLASSIFICATIONS_OVERRIDDEN,
    DEAD_LETTERS,
    ATTENDANCE_REPORTED,
)

CLASSIFIER_GROUP = "rucnet-classifier"
AGGREGATOR_GROUP = "rucnet-aggregator"
INTAKE_GROUP = "rucnet-intake"  # intake's copy of NSP classifications and decisions (receipts)
