"""Pages that reload themselves while something is under way (a receipt, an upload being sent).

The pages run no scripts (CSP ``script-src 'none'``), so the reload is an HTTP ``Refresh`` header;
it is bounded and can be stopped (WCAG 2.2.2), and a link does the same by hand.
"""

from __future__ import annotations

from fastapi import Request, Response

MAX_REFRESH_ROUNDS = 60  # two minutes of reloading every 2 s, then the "Uppdatera status" link


def auto_refresh_round(request: Request) -> int | None:
    """Which automatic reload this is (0 for the first visit); None once the user stopped it or
    after MAX_REFRESH_ROUNDS, so a page never reloads for ever (WCAG 2.2.2: can be stopped)."""
    if request.query_params.get("auto") == "0":
        return None
    raw = request.query_params.get("runda", "0")
    rounds = int(raw) if raw.isdigit() else 0
    return rounds if rounds < MAX_REFRESH_ROUNDS else None


def refresh_in(response: Response, path: str, rounds: int, seconds: int = 2) -> None:
    """Reload the page shortly: an HTTP Refresh header, as the pages run no scripts (CSP)."""
    joiner = "&" if "?" in path else "?"
    response.headers["Refresh"] = f"{seconds}; url={path}{joiner}runda={rounds + 1}"
