"""Intake: RUC staff submit reports; each accepted report becomes a ReportSubmitted event."""
