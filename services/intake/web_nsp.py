"""The receipt's NSP actions: confirm the suggested area, or choose another. Either is a new
version of the report with the insats's ``nsp_area`` set (``report_view.set_area``, the same
correction path as the form and the API), so counts, retraction and audit need nothing new."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.intake.deps import Sessions
from services.intake.report_view import UnknownInsats, load_report, set_area
from services.intake.users import SessionUser
from services.intake.web import checked_form, render, reporter

router = APIRouter(include_in_schema=False)
NOT_SAVED = "Området kunde inte sparas"


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/rapporter/{report_id}/omrade", response_class=HTMLResponse)
async def post_area(
    request: Request, report_id: str, sessions: Sessions, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    form = await checked_form(request, user)
    report = await load_report(sessions, user.role, user.ruc_id, report_id)
    if report is None:
        return render(
            request, "error.html", user, 404, title="Rapporten finns inte", message="Ingen sådan rapport."
        )
    ref, area, action = _field(form, "ref"), _field(form, "nsp_area"), _field(form, "action")
    back = f"/rapporter/{report.latest.report_id}"
    try:
        await set_area(request.app, user.principal, report, ref, area)
    except UnknownInsats:
        message = f"Insatsen {ref} finns inte längre i rapporten. Ladda om kvittot och försök igen."
        return render(
            request, "error.html", user, 409, title="Området kunde inte sparas", message=message, back=back
        )
    except ValidationError:
        message = "Välj ett NSP-område som gäller för rapportens år."
        return render(
            request, "error.html", user, 422, title="Området kunde inte sparas", message=message, back=back
        )
    except HTTPException as exc:
        message = str(exc.detail).split(" / ")[0]
        return render(request, "error.html", user, exc.status_code, title="Området kunde inte sparas",
                      message=message, back=back)  # fmt: skip
    index = next(i for i, (insats, _state) in enumerate(report.insatser) if insats["ref"] == ref)
    saved = "bekraftat" if action == "confirm" else "valt"
    return RedirectResponse(f"{back}?omrade={saved}#insats-{index}", status_code=303)
