"""A report as its RUC sees it: the latest version as submitted, each insats with its NSP state;
and confirming or choosing an insats's area, which is a correction like any other.

``load_report`` and ``set_area`` are the use cases (the JSON API and the receipt page call them);
``report_json`` and ``with_area`` are pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.deps import intake_of
from services.intake.nsp_store import decided_keys, nsp_rows
from services.intake.nsp_view import Classified, NspState, awaiting_completed, report_states
from services.intake.service import accept_report
from services.intake.store import ReportSubmission, submission_versions
from shared.auth import Principal, Role
from shared.inbound import Accepted, ReportIn

INSATS_FIELDS = ("ref", "title", "description", "status", "school_forms", "expected_effects",
                 "actual_effects", "nsp_area")  # fmt: skip


@dataclass(frozen=True)
class ReportWithNsp:
    versions: list[ReportSubmission]
    event: dict[str, Any]  # the latest version's ReportSubmitted, as JSON
    states: list[NspState]  # per insats, in the event's order

    @property
    def latest(self) -> ReportSubmission:
        return self.versions[-1]

    @property
    def insatser(self) -> list[tuple[dict[str, Any], NspState]]:
        return list(zip(self.event["insatser"], self.states, strict=True))


def may_see(role: Role, ruc_id: str | None, latest: ReportSubmission) -> bool:
    """A RUC sees its own reports (the latest version's RUC: an admin's correction that moves a
    report moves access); an admin every one; Skolverket none (they hold huvudman names)."""
    return role == "admin" or (role == "ruc" and latest.ruc_id == ruc_id)


async def load_report(
    sessions: async_sessionmaker[AsyncSession], role: Role, ruc_id: str | None, report_id: str
) -> ReportWithNsp | None:
    """The report with its NSP states; None when it does not exist or is not the caller's."""
    async with sessions() as session:
        versions = await submission_versions(session, report_id[:36])
        if not versions or not may_see(role, ruc_id, versions[-1]):
            return None
        latest = versions[-1]
        event = json.loads(latest.event_json) if latest.event_json else {}
        insatser = event.get("insatser", [])
        keys = [(latest.ruc_id, latest.year, str(i["ref"])) for i in insatser]
        suggestions, decisions = await nsp_rows(session, keys)
    classified = {k: Classified.from_row(r) for k, r in suggestions.items()}
    decided = {k: r.area for k, r in decisions.items()}
    version = latest.seq or 0
    states = report_states(insatser, latest.ruc_id, latest.year, version, classified, decided)
    return ReportWithNsp(versions, event, states)


@dataclass(frozen=True)
class AreaProgress:
    """A listed report's completed insatser, and how many of them nobody has given an area yet."""

    completed: int
    awaiting: int


async def area_progress(
    sessions: async_sessionmaker[AsyncSession], ruc_id: str | None, rows: list[ReportSubmission]
) -> dict[str, AreaProgress]:
    """Per listed report (by id): its completed insatser and those still awaiting an area."""
    async with sessions() as session:
        decided = await decided_keys(session, ruc_id)
    by_year: dict[tuple[str, int], set[str]] = {}
    for ruc, year, ref in decided:
        by_year.setdefault((ruc, year), set()).add(ref)
    progress = {}
    for row in rows:
        insatser = json.loads(row.event_json).get("insatser", []) if row.event_json else []
        refs = by_year.get((row.ruc_id, row.year), set())
        completed = sum(1 for i in insatser if i.get("status") == "completed")
        progress[row.report_id] = AreaProgress(completed, awaiting_completed(insatser, refs))
    return progress


def report_json(report: ReportWithNsp) -> dict[str, Any]:
    """``GET /api/v1/reports/{id}``: the latest version as submitted, each insats with ``nsp``."""
    latest, event = report.latest, report.event
    return {
        "report_id": latest.report_id,
        "version": latest.seq,
        "received_at": latest.received_at,
        "ruc_id": latest.ruc_id,
        "year": latest.year,
        "huvudman": {"name": latest.huvudman_name, "lan_kod": event["huvudman"]["lan_kod"],
                     "type": event["huvudman"]["type"]},
        "insatser": [{k: i.get(k) for k in INSATS_FIELDS} | {"nsp": state.as_json()}
                     for i, state in report.insatser],
    }  # fmt: skip


def report_values(report: ReportWithNsp) -> dict[str, Any]:
    """The latest version as an inbound report's values (what a correction starts from)."""
    latest, event = report.latest, report.event
    return {
        "ruc_id": latest.ruc_id,
        "year": latest.year,
        "huvudman": {"name": latest.huvudman_name, "lan_kod": event["huvudman"]["lan_kod"],
                     "type": event["huvudman"]["type"]},
        "insatser": [{k: i.get(k) for k in INSATS_FIELDS} for i in event["insatser"]],
    }  # fmt: skip


class UnknownInsats(LookupError):
    pass


def with_area(values: dict[str, Any], ref: str, area: str) -> dict[str, Any]:
    """The report's values with insats ``ref``'s area set (UnknownInsats if it has no such ref)."""
    if not any(i["ref"] == ref for i in values["insatser"]):
        raise UnknownInsats(ref)
    insatser = [i | {"nsp_area": area} if i["ref"] == ref else i for i in values["insatser"]]
    return values | {"insatser": insatser}


async def set_area(
    app: FastAPI, principal: Principal, report: ReportWithNsp, ref: str, area: str
) -> Accepted:
    """Confirm or choose an insats's area: a new version of the report with its ``nsp_area`` set,
    through ``accept_report`` like any correction (ValidationError, UnknownInsats or the
    HTTPException of ``accept_report`` when it cannot be)."""
    corrected = ReportIn.model_validate(with_area(report_values(report), ref, area))
    return await accept_report(intake_of(app), corrected, principal, report_id=report.latest.report_id)
