"""The upload's dry run with the NSP area each row would get: declared, or the classifier's
suggestion (asked over HTTP before anything is sent). Pure except ``suggest_for``."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.suggestions import Suggested, SuggestionClient
from services.intake.upload import DryRun
from shared.inbound import InsatsIn


@dataclass(frozen=True)
class RowArea:
    row: int
    ref: str
    completed: bool
    declared: str | None
    suggested: Suggested | None


def rows_without_area(result: DryRun) -> list[tuple[int, InsatsIn]]:
    """(report index, insats) of every insats without a declared area, in the file's order."""
    return [(n, i) for n, report in enumerate(result.reports) for i in report.insatser if i.nsp_area is None]


async def suggest_for(client: SuggestionClient, ruc_id: str, result: DryRun) -> list[Suggested] | None:
    """The classifier's suggestion for each of ``rows_without_area``, asked per year (a year
    decides which areas exist); None when it cannot be asked."""
    wanted = rows_without_area(result)
    found: dict[int, Suggested] = {}
    for year in sorted({result.reports[n].year for n, _ in wanted}):
        picked = [(k, i) for k, (n, i) in enumerate(wanted) if result.reports[n].year == year]
        answers = await client.suggest(ruc_id, year, [i for _, i in picked])
        if answers is None:
            return None
        found |= {k: a for (k, _), a in zip(picked, answers, strict=True)}
    return [found[k] for k in range(len(wanted))]


def row_areas(result: DryRun, suggestions: list[Suggested] | None) -> list[RowArea]:
    """Each row of a clean dry run with its declared area or its suggestion, by spreadsheet row."""
    pending = iter(suggestions or ())
    rows = []
    for report, numbers in zip(result.reports, result.report_rows, strict=True):
        for insats, number in zip(report.insatser, numbers, strict=True):
            suggested = next(pending, None) if insats.nsp_area is None else None
            rows.append(RowArea(number, insats.ref, insats.status == "completed", insats.nsp_area, suggested))
    return sorted(rows, key=lambda r: r.row)
