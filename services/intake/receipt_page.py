"""What the receipt page shows, as a pure function of the report, the aggregator's status and the
reference data: each insats as a card with its NSP state, the suggestion to confirm or change, and
whether the page should go on reloading itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.intake.nsp_view import NspState, certainty_sv, plausible_alternatives
from services.intake.report_view import ReportWithNsp
from shared.reference import ReferenceData

BASIS_SV = {
    "declared": "angivet av er",
    "confirmed": "fastställt av Skolverket",
    "unreviewed": "systemets förslag, inte bekräftat",
}
# What the page says after an area was set from it: fixed texts chosen by a code, never taken
# from the query string itself.
AREA_SAVED = {
    "bekraftat": "Området är bekräftat. En ny version av rapporten är mottagen och räknas under det.",
    "valt": "Området är ändrat. En ny version av rapporten är mottagen och räknas under det.",
}


@dataclass(frozen=True)
class InsatsCard:
    index: int
    insats: dict[str, Any]
    state: NspState
    area_name: str | None
    basis_sv: str | None
    certainty: str | None  # set when the suggestion awaits the RUC's word
    alternatives: list[tuple[str, str]]  # (code, name): plausible other areas, best first
    others: list[tuple[str, str]]  # every other area of the year, for "choose another"

    @property
    def asks_for_area(self) -> bool:
        """A completed insats without a declared area, classified but not confirmed: the samordnare
        is asked to confirm or choose (only completed insatser are counted per area)."""
        return self.insats.get("status") == "completed" and self.state.basis == "unreviewed"


def insats_cards(report: ReportWithNsp, reference: ReferenceData) -> list[InsatsCard]:
    year = report.latest.year
    names = {a.code: a.name_sv for a in reference.nsp_areas}
    of_year = [a.code for a in reference.nsp_areas if a.valid_in(year)]
    cards = []
    for index, (insats, state) in enumerate(report.insatser):
        alternatives = [c for c in plausible_alternatives(state) if c in names]
        others = alternatives + [c for c in of_year if c != state.area and c not in alternatives]
        card = InsatsCard(
            index=index,
            insats=insats,
            state=state,
            area_name=names.get(state.area, state.area) if state.area else None,
            basis_sv=BASIS_SV.get(state.basis or ""),
            certainty=certainty_sv(state),
            alternatives=[(c, names[c]) for c in alternatives],
            others=[(c, names.get(c, c)) for c in others],
        )
        cards.append(card)
    return cards


def receipt_context(
    report: ReportWithNsp, status: dict[str, Any] | None, reference: ReferenceData, auto_refresh: bool
) -> dict[str, Any]:
    """The template's context. The page reloads itself only while something is still to come: not
    once the relay gave up on the report, nor once every insats is classified and the report
    counted (or the aggregator cannot be asked), so a keyboard user is not sent back to the top."""
    latest = report.latest
    failed = latest.failed_at is not None
    counted = bool(status and status.get("counted"))
    classified = all(s.classified for s in report.states)
    settled = failed or (classified and (counted or status is None))
    cards = insats_cards(report, reference)
    on = dt.date(latest.year, 12, 31)
    return {
        "report": latest,
        "versions": report.versions,
        "event": report.event,
        "status": status,
        "counted_ok": counted,
        "classified_all": classified,
        "failed": failed,
        "acknowledged": latest.published_at is not None,  # the relay marks it once the broker has it
        "refreshing": auto_refresh and not settled,
        "cards": cards,
        "asking": [c for c in cards if c.asks_for_area],
        "form_names": {f.code: f.name_on(on) for f in reference.school_forms},
    }
