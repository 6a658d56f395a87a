"""Spreadsheet upload pages: templates, a dry run with row errors, then sending with progress."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.intake.deps import (
    intake_of,
    suggestions_of,
    upload_jobs_of,
    upload_parsing_of,
    upload_tasks_of,
)
from services.intake.refresh import auto_refresh_round, refresh_in
from services.intake.service import accept_report
from services.intake.sheets import UnreadableFile, read_rows
from services.intake.upload import DryRun, csv_template, dry_run, xlsx_template
from services.intake.upload_suggestions import RowArea, row_areas, rows_without_area, suggest_for
from services.intake.users import SessionUser
from services.intake.web import checked_form, render, reporter, scope_ruc
from shared.offload import BoundedThreads

router = APIRouter(include_in_schema=False)
UPLOAD_PREFIX = "/uppladdning"  # posts under it may be as large as max_upload_bytes
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEEP_PER_USER = 5  # a user's newer upload replaces their oldest; nobody evicts another's
MAX_JOBS = 1_000  # every user's together (each holds a parsed file): beyond it, come back later
JOB_TTL_S = 3_600.0
# Two files parsed at a time (each within sheets.py's budgets: a few seconds at most), and one per
# user: a user's second upload waits for nothing, it is told to wait, so one user never holds both
# and the queue of the others is first come, first served.
_parsing = BoundedThreads(2)
BUSY = "Du har redan en fil som läses in. Vänta tills den är klar och försök sedan igen."


@dataclass
class UploadJob:
    user_id: int
    ruc_id: str
    filename: str
    result: DryRun
    sent: int = 0
    report_ids: list[str] = field(default_factory=list)
    started: bool = False
    failure: str | None = None
    created: float = field(default_factory=time.monotonic)
    areas: list[RowArea] = field(default_factory=list)  # a clean dry run's NSP area per row
    no_suggestions: bool = False  # the classifier could not be asked

    @property
    def done(self) -> bool:
        return self.failure is not None or self.sent == len(self.result.reports)


def _keep(app: FastAPI, job: UploadJob) -> str | None:
    """Store a new job (None when the server holds too many): expired and the user's oldest
    beyond ``KEEP_PER_USER`` go first, a job being sent stays."""
    jobs = upload_jobs_of(app)
    now = time.monotonic()
    for key in [k for k, j in jobs.items() if now - j.created > JOB_TTL_S and (j.done or not j.started)]:
        del jobs[key]
    own = [k for k, j in jobs.items() if j.user_id == job.user_id and (j.done or not j.started)]
    for key in own[: max(0, len(own) - KEEP_PER_USER + 1)]:
        del jobs[key]
    if len(jobs) >= MAX_JOBS:
        return None
    job_id = secrets.token_urlsafe(16)
    jobs[job_id] = job
    return job_id


def _parse(filename: str, content: bytes, ruc_id: str, max_message_bytes: int) -> DryRun:
    return dry_run(read_rows(filename, content), ruc_id, max_message_bytes)


@router.get("/uppladdning", response_class=HTMLResponse)
async def upload_page(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    return render(request, "upload.html", user, job=None, job_id=None, error=None)


@router.get("/uppladdning/mall.xlsx")
async def template_xlsx(_user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    headers = {"Content-Disposition": 'attachment; filename="rucnet-insatser-mall.xlsx"'}
    return Response(xlsx_template(), media_type=XLSX_TYPE, headers=headers)


@router.get("/uppladdning/mall.csv")
async def template_csv(_user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    headers = {"Content-Disposition": 'attachment; filename="rucnet-insatser-mall.csv"'}
    return Response(csv_template(), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/uppladdning", response_class=HTMLResponse)
async def upload_dry_run(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    form = await checked_form(request, user)
    upload = form.get("fil")
    ruc_id = scope_ruc(user, form)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return render(
            request, "upload.html", user, 422, job=None, job_id=None, error="Välj en fil att ladda upp."
        )
    if not ruc_id:
        return render(request, "upload.html", user, 422, job=None, job_id=None, error="Välj ett RUC.")
    parsing = upload_parsing_of(request.app)
    if user.user_id in parsing:
        return render(request, "upload.html", user, 429, job=None, job_id=None, error=BUSY)
    parsing.add(user.user_id)
    try:  # off the event loop: parsing and validating thousands of rows takes a while
        content, limit = await upload.read(), intake_of(request.app).max_message_bytes
        result = await _parsing.run(_parse, upload.filename, content, ruc_id, limit)
    except UnreadableFile as exc:
        return render(request, "upload.html", user, 422, job=None, job_id=None, error=str(exc))
    finally:
        parsing.discard(user.user_id)
    if not result.reports and not result.errors:
        example = " (bara mallens exempelrad, som aldrig skickas)" if result.examples else ""
        empty = f"Filen har inga insatser att skicka{example}. Skriv en rad per insats under rubrikraden."
        return render(request, "upload.html", user, 422, job=None, job_id=None, error=empty)
    job = UploadJob(user.user_id, ruc_id, upload.filename, result)
    if not result.errors:
        await _with_areas(request.app, job)
    job_id = _keep(request.app, job)
    if job_id is None:
        busy = "Servern har för många uppladdningar just nu. Försök igen om en stund."
        return render(request, "upload.html", user, 503, job=None, job_id=None, error=busy)
    code = 422 if result.errors else 200
    return render(request, "upload.html", user, code, job=job, job_id=job_id, error=None)


async def _with_areas(app: FastAPI, job: UploadJob) -> None:
    """The NSP area each row would get: declared, or the classifier's suggestion."""
    asked = bool(rows_without_area(job.result))
    suggestions = await suggest_for(suggestions_of(app), job.ruc_id, job.result) if asked else []
    job.no_suggestions = suggestions is None
    job.areas = row_areas(job.result, suggestions)


def _own_job(request: Request, user: SessionUser, job_id: str) -> UploadJob | None:
    job = upload_jobs_of(request.app).get(job_id)
    return job if job is not None and job.user_id == user.user_id else None


def _no_such_upload(request: Request, user: SessionUser) -> Response:
    return render(
        request, "error.html", user, 404, title="Uppladdningen finns inte", message="Ladda upp filen igen."
    )


async def _send(app: FastAPI, job: UploadJob, user: SessionUser) -> None:
    for report in job.result.reports:
        try:
            accepted = await accept_report(intake_of(app), report, user.principal)
        except HTTPException as exc:
            job.failure = str(exc.detail).split(" / ")[0]
            return
        job.report_ids.append(accepted.report_id)
        job.sent += 1


@router.post("/uppladdning/{job_id}/skicka", response_class=HTMLResponse)
async def upload_send(
    request: Request, job_id: str, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    await checked_form(request, user)
    job = _own_job(request, user, job_id)
    if job is None:
        return _no_such_upload(request, user)
    if job.result.errors:  # nothing is sent until the whole file is clean
        return render(
            request, "upload.html", user, 422, job=job, job_id=job_id, error="Rätta felen och ladda upp igen."
        )
    if not job.started:
        job.started = True
        tasks = upload_tasks_of(request.app)
        task = asyncio.create_task(_send(request.app, job, user))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return RedirectResponse(f"/uppladdning/{job_id}", status_code=303)


@router.get("/uppladdning/{job_id}", response_class=HTMLResponse)
async def upload_progress(
    request: Request, job_id: str, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    job = _own_job(request, user, job_id)
    if job is None:
        return _no_such_upload(request, user)
    page = render(request, "upload_progress.html", user, job=job, job_id=job_id)
    rounds = auto_refresh_round(request)
    if not job.done and rounds is not None:
        refresh_in(page, f"/uppladdning/{job_id}", rounds, seconds=1)
    return page
