"""Protections in front of the API: the event size budget and the per-token rate limit (which
``deps.limited_principal`` applies to every API request)."""

from __future__ import annotations

import uuid

from fastapi import HTTPException, status

from services.intake.store import to_event
from services.intake.throttle import SlidingWindow
from shared.budget import Overflow, classified_bytes_quick_bound, event_overflow, fits, report_overflow
from shared.events import AttendanceReported
from shared.inbound import ReportIn


def report_draft_overflow(report: ReportIn, max_message_bytes: int) -> Overflow | None:
    """Which of the report's events (ReportSubmitted, or the larger ReportClassified the classifier
    makes of it) would not fit the broker's limit; most reports pass on a bound without serialising."""
    if fits(classified_bytes_quick_bound(report.insatser), report.ruc_id.encode(), max_message_bytes):
        return None
    # every pseudonym is as long as this one, so the draft's size is the stored event's
    return report_overflow(to_event(report, "hm-" + "0" * 16, 1, uuid.UUID(int=0)), max_message_bytes)


def ensure_report_fits(report: ReportIn, max_message_bytes: int) -> None:
    """413 unless the report's events fit the broker's limit."""
    overflow = report_draft_overflow(report, max_message_bytes)
    if overflow is not None:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=overflow.message())


def ensure_attendance_fits(event: AttendanceReported, max_message_bytes: int) -> None:
    body = event.model_dump_json().encode()
    overflow = event_overflow("AttendanceReported", body, event.ruc_id.encode(), max_message_bytes)
    if overflow is not None:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=overflow.message("Närvarorapporten"))


class RateLimiter(SlidingWindow):
    """API requests per token in a sliding one-minute window."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        super().__init__(per_minute, window_s)

    def retry_after(self, key: int, now: float | None = None) -> int:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        wait = self.wait(key, now)
        if not wait:
            self.add(key, now)
        return wait
