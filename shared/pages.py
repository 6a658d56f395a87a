"""What the Swedish pages of intake and the review page share: one layout, one stylesheet and
Swedish formats (numbers "0,98", times in Swedish time with the date, plurals)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

SHARED_TEMPLATES = Path(__file__).parent / "templates"
SWEDEN = ZoneInfo("Europe/Stockholm")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september",
          "oktober", "november", "december")  # fmt: skip


def sv_number(value: float, decimals: int = 2) -> str:
    """0.98 -> "0,98": the Swedish decimal comma."""
    return f"{value:.{decimals}f}".replace(".", ",").replace("-", "−")


def sv_time(value: dt.datetime | str | None, seconds: bool = False) -> str:
    """A UTC time as Swedes read it: "3 december 2026 kl. 07:04" in Swedish time (CET/CEST)."""
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # stored times are UTC
    local = moment.astimezone(SWEDEN)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} kl. {clock}"


def plural(count: int, one: str, many: str) -> str:
    """ "1 rapport", "2 rapporter": the count with the right Swedish form."""
    return f"{count} {one if count == 1 else many}"


def page_templates(own: Path) -> Jinja2Templates:
    """A service's templates, falling back to the shared layout and stylesheet."""
    templates = Jinja2Templates(directory=[own, SHARED_TEMPLATES])
    templates.env.filters["sv_number"] = sv_number
    templates.env.filters["sv_time"] = sv_time
    templates.env.globals["plural"] = plural
    return templates
