"""Spreadsheet upload pages: templates, a dry run with row errors, then sending with progress."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.intake.api import accept_report
from services.intake.refresh import auto_refresh_round, refresh_in
from services.intake.sheets import UnreadableFile, read_rows
from services.intake.upload import DryRun, csv_template, dry_run, xlsx_template
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

    @property
    def done(self) -> bool:
        return self.failure is not None or self.sent == len(self.result.reports)


def _jobs(app: FastAPI) -> OrderedDict[str, UploadJob]:
    jobs: OrderedDict[str, UploadJob] = app.state.upload_jobs
    return jobs


def _keep(app: FastAPI, job: UploadJob) -> str | None:
    """Store a new job (None when the server holds too many): expired and the user's oldest
    beyond ``KEEP_PER_USER`` go first, a job being sent stays."""
    jobs = _jobs(app)
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
    parsing: set[int] = request.app.state.upload_parsing
    if user.user_id in parsing:
        return render(request, "upload.html", user, 429, job=None, job_id=None, error=BUSY)
    parsing.add(user.user_id)
    try:  # off the event loop: parsing and validating thousands of rows takes a while
        content, limit = await upload.read(), request.app.state.max_message_bytes
        result = await _parsing.run(_parse, upload.filename, content, ruc_id, limit)
    except UnreadableFile as exc:
        return render(request, "upload.html", user, 422, job=None, job_id=None, error=str(exc))
    finally:
        parsing.discard(user.user_id)
    job = UploadJob(user.user_id, ruc_id, upload.filename, result)
    job_id = _keep(request.app, job)
    if job_id is None:
        busy = "Servern har för många uppladdningar just nu. Försök igen om en stund."
        return render(request, "upload.html", user, 503, job=None, job_id=None, error=busy)
    code = 422 if result.errors else 200
    return render(request, "upload.html", user, code, job=job, job_id=job_id, error=None)


def _own_job(request: Request, user: SessionUser, job_id: str) -> UploadJob:
    job = _jobs(request.app).get(job_id)
    if job is None or job.user_id != user.user_id:
        raise HTTPException(404)
    return job


async def _send(app: FastAPI, job: UploadJob, user: SessionUser) -> None:
    for report in job.result.reports:
        try:
            accepted = await accept_report(app, report, user.principal)
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
    try:
        job = _own_job(request, user, job_id)
    except HTTPException:
        return render(
            request,
            "error.html",
            user,
            404,
            title="Uppladdningen finns inte",
            message="Ladda upp filen igen.",
        )
    if job.result.errors:  # nothing is sent until the whole file is clean
        return render(
            request, "upload.html", user, 422, job=job, job_id=job_id, error="Rätta felen och ladda upp igen."
        )
    if not job.started:
        job.started = True
        tasks: set[asyncio.Task[None]] = request.app.state.upload_tasks
        task = asyncio.create_task(_send(request.app, job, user))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return RedirectResponse(f"/uppladdning/{job_id}", status_code=303)


@router.get("/uppladdning/{job_id}", response_class=HTMLResponse)
async def upload_progress(
    request: Request, job_id: str, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    try:
        job = _own_job(request, user, job_id)
    except HTTPException:
        return render(
            request,
            "error.html",
            user,
            404,
            title="Uppladdningen finns inte",
            message="Ladda upp filen igen.",
        )
    page = render(request, "upload_progress.html", user, job=job, job_id=job_id)
    rounds = auto_refresh_round(request)
    if not job.done and rounds is not None:
        refresh_in(page, f"/uppladdning/{job_id}", rounds, seconds=1)
    return page
