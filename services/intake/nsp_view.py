"""What an insats's NSP area rests on, as a RUC sees it: pure functions, no I/O.

The rule is the aggregator's (``effective_area``: an analyst's decision, else the declared area,
else the classifier's), so a receipt and ``GET /api/v1/reports/{id}`` say what the national figures
count: ``confirmed`` (an analyst decided), ``declared`` (the RUC gave the area, or confirmed the
suggestion, which is the same), ``unreviewed`` (only the classifier's tag) or ``None`` (the
classifier has not seen this version yet).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Basis = Literal["declared", "confirmed", "unreviewed"]
# An alternative is worth showing when it scores at least this share of the best area's score, or
# whenever the classifier itself flagged the insats as uncertain (then every candidate is).
PLAUSIBLE_SHARE = 0.25


@dataclass(frozen=True)
class Classified:
    """The classifier's word on one insats (a stored ``nsp_suggestion`` row)."""

    version: int
    area: str
    source: str  # declared / classifier
    candidates: tuple[tuple[str, float], ...]
    needs_review: bool

    @classmethod
    def from_row(cls, row: Any) -> Classified:
        pairs = tuple((str(code), float(score)) for code, score in json.loads(row.candidates))
        return cls(row.version, row.area, row.source, pairs, bool(row.needs_review))


@dataclass(frozen=True)
class NspState:
    area: str | None
    basis: Basis | None
    suggested: tuple[str, ...]
    needs_review: bool
    candidates: tuple[tuple[str, float], ...] = ()
    classified: bool = False  # the classifier has seen this version (a declared area needs no wait)

    def as_json(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "basis": self.basis,
            "suggested": list(self.suggested),
            "needs_review": self.needs_review,
        }

    @property
    def awaits_area(self) -> bool:
        """Nobody has said which area holds: the classifier's tag (or none yet) is all there is."""
        return self.basis in ("unreviewed", None)


def nsp_state(
    declared: str | None, version: int, classified: Classified | None, decided: str | None
) -> NspState:
    """The NSP state of an insats of a report's version ``version``.

    ``declared``: the insats's own ``nsp_area``; ``classified``: the classifier's latest word on
    its (RUC, year, ref), which counts only once it has seen this version; ``decided``: the area an
    analyst decided, which holds for every later version.
    """
    fresh = classified if classified is not None and classified.version >= version else None
    candidates = fresh.candidates if fresh else ()
    suggested = tuple(code for code, _ in candidates)
    seen = fresh is not None
    if decided is not None:
        return NspState(decided, "confirmed", suggested, False, candidates, seen)
    if declared is not None:
        return NspState(declared, "declared", suggested, False, candidates, seen)
    if fresh is None:
        return NspState(None, None, (), False)
    if fresh.source == "declared":  # a later version of the same ref declared it
        return NspState(fresh.area, "declared", suggested, False, candidates, True)
    return NspState(fresh.area, "unreviewed", suggested, fresh.needs_review, candidates, True)


def plausible_alternatives(state: NspState) -> list[str]:
    """The other areas worth offering beside the suggestion, best first."""
    if not state.candidates or state.area is None:
        return []
    best = state.candidates[0][1]
    return [
        code
        for code, score in state.candidates
        if code != state.area and (state.needs_review or score >= PLAUSIBLE_SHARE * best)
    ]


def certainty_sv(state: NspState) -> str:
    """How sure the system is, in plain Swedish: the classifier's own review flag decides, not its
    score (on real writing its scores were near 1 also when it was wrong)."""
    if state.needs_review:
        return "Osäkert. Systemet kan inte avgöra området med säkerhet, så välj det som stämmer."
    if plausible_alternatives(state):
        return "Troligt, men ett annat område är också möjligt. Kontrollera förslaget."
    return "Troligt. Systemet bedömer att området passar, men det är ingen garanti."


def report_states(
    insatser: Sequence[Mapping[str, Any]],
    ruc_id: str,
    year: int,
    version: int,
    classified: Mapping[tuple[str, int, str], Classified],
    decided: Mapping[tuple[str, int, str], str],
) -> list[NspState]:
    """Each insats's state (in the report's order) from what intake has stored about them."""
    states = []
    for insats in insatser:
        key = (ruc_id, year, str(insats["ref"]))
        states.append(nsp_state(insats.get("nsp_area"), version, classified.get(key), decided.get(key)))
    return states


def awaiting_completed(insatser: Sequence[Mapping[str, Any]], decided_refs: set[str]) -> int:
    """Completed insatser of a report that nobody has given an area yet (no declared area, no
    analyst's decision): what the reports list shows as waiting."""
    return sum(
        1
        for i in insatser
        if i.get("status") == "completed" and not i.get("nsp_area") and i["ref"] not in decided_refs
    )
