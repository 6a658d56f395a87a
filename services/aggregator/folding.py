"""Folding events into the counting state in memory: which record holds for each insats.

The rule, whatever order the events arrive in (so the live aggregator, a redelivery and the
rebuild agree): for each insats (RUC, year, ref), the version with the highest number among all
reports' versions that contain it holds; if that version's report has a later version (which,
having a higher number, left the insats out) the insats is retracted: not counted, not in the
read model. A correction that moves an insats to another year, ref or RUC is a new version that
leaves the old key out, so the old key is retracted and the new one counted: once, in order.
A report's version only retracts what it held itself: an insats another report's later version
took over stays with that report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.aggregator.counting import effective_area
from services.aggregator.facts import forms_json
from services.aggregator.tables import InsatsKey, InsatsRow, RetractionRow
from shared.events import ClassificationOverridden, ReportClassified

Countable = ReportClassified | ClassificationOverridden


_named = tuple.__new__  # a named row from a plain tuple, in C (InsatsRow(...) runs Python)


def record_values(
    event: ReportClassified, stamp: Any, areas: Mapping[str, str] | None = None
) -> Iterator[InsatsRow]:
    """Each insats's record as its report's version states it, an analyst's area (``areas``, by
    ref) laid on; ``stamp``: its ``updated_at`` (the rebuild passes it as its driver takes it)."""
    by_ref = {c.ref: c for c in event.classifications}
    ruc_id, year, version, model = event.ruc_id, event.year, event.version, event.model_version
    lan_kod, pseudonym, kind = event.huvudman.lan_kod, event.huvudman.pseudonym, event.huvudman.type
    event_id, report_id = str(event.event_id), str(event.report_id)
    for insats in event.insatser:
        classified = by_ref[insats.ref]
        override = areas.get(insats.ref) if areas else None
        # in InsatsRow's field order
        yield _named(
            InsatsRow,
            (
                ruc_id,
                year,
                insats.ref,
                version,
                lan_kod,
                pseudonym,
                kind,
                insats.status,
                forms_json(insats.school_forms),
                insats.title[:300],
                insats.nsp_area,
                classified.nsp_area,
                effective_area(override, insats.nsp_area, classified.nsp_area),
                "override" if override else classified.source,
                classified.confidence,
                classified.needs_review and not override,
                model,
                event_id,
                stamp,
                report_id,
                insats.participants,
                insats.started_on,
            ),
        )


def override_wins(current: Mapping[str, Any] | None, event: ClassificationOverridden) -> bool:
    """The latest decision holds; ties are broken by event id so every replica agrees."""
    if current is None:
        return True
    occurred = current["occurred_at"]
    occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC)
    return (event.occurred_at, str(event.event_id)) >= (occurred, current["event_id"])


def override_row(event: ClassificationOverridden) -> dict[str, Any]:
    keys = ("ruc_id", "year", "ref", "nsp_area")
    return {k: getattr(event, k) for k in keys} | {
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at,
    }


@dataclass
class State:
    """The stored state a batch touches, changed in memory; ``changed`` says what to write back."""

    records: dict[InsatsKey, InsatsRow]
    retractions: dict[InsatsKey, RetractionRow]
    overrides: dict[InsatsKey, dict[str, Any]]
    reports: dict[str, int]  # report id → its latest version
    by_report: dict[str, set[InsatsKey]] = field(default_factory=dict)
    changed: set[InsatsKey] = field(default_factory=set)  # records and retractions
    changed_overrides: set[InsatsKey] = field(default_factory=set)
    changed_reports: set[str] = field(default_factory=set)
    stored: tuple[set[InsatsKey], set[InsatsKey]] = field(init=False)  # rows a write-back may delete

    def __post_init__(self) -> None:
        self.stored = (set(self.records), set(self.retractions))
        for key, row in self.records.items():
            self.by_report.setdefault(row.report_id, set()).add(key)

    def held(self, key: InsatsKey) -> int | None:
        """The version that decides the insats now (its record's or its retraction's)."""
        row = self.records.get(key) or self.retractions.get(key)
        return row.version if row is not None else None

    def hold(self, row: InsatsRow) -> None:
        self._drop(row.key)
        self.records[row.key] = row
        self.by_report.setdefault(row.report_id, set()).add(row.key)

    def retract(self, key: InsatsKey, version: int, report_id: str) -> None:
        self._drop(key)
        self.retractions[key] = RetractionRow(*key, version, report_id)

    def _drop(self, key: InsatsKey) -> None:
        old = self.records.pop(key, None)
        if old is not None:
            self.by_report.get(old.report_id, set()).discard(key)
        self.retractions.pop(key, None)
        self.changed.add(key)


def fold_classified(state: State, event: ReportClassified, now: dt.datetime) -> None:
    report, version = str(event.report_id), event.version
    keys = {(event.ruc_id, event.year, i.ref): i.ref for i in event.insatser}
    latest = state.reports.get(report)
    if latest is not None and latest > version:  # a later version of the report left these out
        for key in sorted(keys):
            held = state.held(key)
            if held is None or held < version:
                state.retract(key, version, report)
        return
    for key in sorted(state.by_report.get(report, set()) - keys.keys()):
        state.retract(key, state.records[key].version, report)
    areas = {ref: o["nsp_area"] for key, ref in keys.items() if (o := state.overrides.get(key))}
    rows = {row.ref: row for row in record_values(event, now, areas)}  # a ref twice: the last holds
    for key, ref in sorted(keys.items()):
        held = state.held(key)
        if held is None or held <= version:
            state.hold(rows[ref])
    if latest != version:
        state.reports[report] = version
        state.changed_reports.add(report)


def fold_override(state: State, event: ClassificationOverridden, now: dt.datetime) -> None:
    key = (event.ruc_id, event.year, event.ref)
    if not override_wins(state.overrides.get(key), event):
        return
    state.overrides[key] = override_row(event)
    state.changed_overrides.add(key)
    record = state.records.get(key)
    if record is not None:
        state.hold(
            record._replace(
                nsp_area=event.nsp_area, area_source="override", needs_review=False, updated_at=now
            )
        )


def fold(state: State, events: list[Countable], now: dt.datetime) -> None:
    """Apply events in order to the state, as if one by one; ``now`` stamps the records they change."""
    for event in events:
        if isinstance(event, ClassificationOverridden):
            fold_override(state, event, now)
        else:
            fold_classified(state, event, now)
