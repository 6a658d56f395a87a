"""The review queue as the page shows it: a filter with paging, and each insats made readable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from services.classifier.page_text import body_without_title, shown_reasons
from services.classifier.store import review_queue

PAGE_SIZE = 25
MAX_FILTERED = 20_000  # an area filter is applied to at most this many queued rows


@dataclass(frozen=True)
class QueueFilter:
    year: int | None = None
    ruc: str = ""
    area: str = ""
    flagged_only: bool = False
    page: int = 1

    def query(self, **changes: object) -> str:
        """This filter as a query string, with some values changed (for paging links)."""
        flagged = "true" if self.flagged_only else ""
        values = {"year": self.year or "", "ruc": self.ruc, "area": self.area,
                  "flagged_only": flagged, "page": self.page} | changes  # fmt: skip
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 1)})


async def queue_rows(session: AsyncSession, chosen: QueueFilter) -> tuple[list[dict[str, object]], int]:
    """One page of the queue; an area filter is applied here, as the store filters by year and RUC."""
    start = (chosen.page - 1) * PAGE_SIZE
    if not chosen.area:
        rows, total = await review_queue(session, chosen.year, chosen.ruc or None, chosen.flagged_only,
                                         PAGE_SIZE, start)  # fmt: skip
        return [r.as_dict() for r in rows], total
    rows, _ = await review_queue(
        session, chosen.year, chosen.ruc or None, chosen.flagged_only, MAX_FILTERED, 0
    )
    matching = [r.as_dict() for r in rows if r.classified_area == chosen.area]
    return matching[start : start + PAGE_SIZE], len(matching)


def readable(item: dict[str, object], names: Mapping[str, str] | None = None) -> dict[str, object]:
    """``names``: the areas' Swedish names, to say what a decision changes in the national chart."""
    title, text = str(item["title"]), str(item["text"])
    reasons = [str(r) for r in item["reasons"]]  # type: ignore[attr-defined]
    description = body_without_title(title, str(item.get("description", "")))
    return item | {
        "body": body_without_title(title, text),
        "shown_description": "" if description == body_without_title(title, text) else description,
        "shown_reasons": shown_reasons(reasons, text),
        "chart_change": chart_change(item, names or {}),
    }


def chart_change(item: Mapping[str, object], names: Mapping[str, str]) -> str:
    """What accepting or changing the area does to the national chart of completed insatser. It
    names the move, not the totals: those are the aggregator's counts (the count spec), shown on
    the national dashboard, and a second count here would be a second counting rule."""
    if item["status"] != "completed":
        return "Påbörjad insats: den räknas inte i diagrammet per NSP-område förrän den är genomförd."
    area = str(item["nsp_area"])
    name = names.get(area, area)
    return (
        f"I det nationella diagrammet räknas den nu under {name} som ej granskad. Godkänner du "
        f"blir den bekräftad där och antalet är detsamma. Ändrar du området flyttas den: {name} får "
        f"en genomförd insats mindre och området du väljer en mer."
    )
