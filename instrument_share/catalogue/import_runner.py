"""The runner of queued catalogue import jobs: the scheduler's `catalogue_imports` job, every few seconds.

A job is claimed in a short transaction that locks its row (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock
on SQLite), so two schedulers never take the same job; the claim holds a lease and a token. The work goes through
the importer exactly as an inline import: the file is read and checked, and a real import writes every row or
none in one transaction, which also marks the job done after checking that the claim is still this runner's; a
runner whose lease ran out and was taken over therefore never commits. Progress (and the lease) is written beside
it in short transactions of its own on another connection. SQLite has one writer at a time, so there progress moves
while the file is checked and the result appears when the write commits.

A runner that died leaves its job `running`; its writes never committed, so once the lease has run out the next
claim takes the job over and runs it again, at most MAX_ATTEMPTS times in all.
"""

import logging
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..accounts.models import User
from ..core.clock import now_utc
from ..core.errors import DomainError
from ..db import db
from ..mail import outbox
from ..mail.links import external_url
from ..mail.models import Notification
from ..scheduling.claims import owner_name
from . import importer
from .import_jobs import encode_problems
from .models import ImportJob

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
JOBS_PER_TICK = 5


class LeaseLost(Exception):
    """Another runner took the job over after this one's lease ran out: this one's work must not commit."""


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["SCHEDULER_LEASE_SECONDS"])


def run_due(limit: int = JOBS_PER_TICK) -> str:
    """Claim and run queued jobs (and jobs whose runner died) one after another."""
    ran = 0
    while ran < limit and (claimed := claim()) is not None:
        job_id, token = claimed
        try:
            run(job_id, token)
        except Exception:  # a bug or a lost database: the job is retried by a later claim, MAX_ATTEMPTS in all
            log.exception("catalogue import job %s stopped", job_id)
            db.session.rollback()
            _release(job_id, token)
        ran += 1
    return f"ran={ran}"


def claim(*, owner: str | None = None) -> tuple[int, str] | None:
    """Take the oldest queued job, or a running one whose lease has run out; (id, token), or None."""
    while True:
        with db.transaction() as session:
            now = now_utc()
            job = session.scalars(
                select(ImportJob).where(or_(ImportJob.status == "queued", and_(
                    ImportJob.status == "running", ImportJob.lease_expires_at < now)))
                .order_by(ImportJob.id).limit(1).with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)).first()
            if job is None:
                return None
            job.attempts += 1
            if job.attempts <= MAX_ATTEMPTS:
                job.status, job.claimed_by, job.lease_token = "running", owner or owner_name(), secrets.token_hex(16)
                job.lease_expires_at = now + _lease()
                job.started_at = job.started_at or now
                return job.id, job.lease_token
            _fail(job, "import_stopped", _("The import stopped unexpectedly %(n)d times; nothing was imported. Upload "
                                           "the file again or ask the platform's administrators.", n=MAX_ATTEMPTS))
            _notify(job)


def run(job_id: int, token: str) -> None:
    """Check or import the job's file; the outcome and the job's end are written together."""
    job = db.session.get(ImportJob, job_id, populate_existing=True)
    actor, unit = db.session.get(User, job.created_by_id), job.organization
    progress = _Progress(job_id, token, steps_per_row=1 if job.dry_run else 2)
    outcome: dict
    try:
        importer.require_importer(actor, unit, publish=job.publish)
        parsed = importer.parse_file(job.file.data, job.file.filename)
        progress.begin(len(parsed.rows))
        if job.dry_run:
            outcome = {"report": importer.check(parsed, progress.advance)}
        else:
            with db.transaction():
                # SQLite: this transaction holds the only write lock, so progress waits for its end.
                live = progress.advance if db.dialect == "postgresql" else None
                result = importer.import_rows(actor, unit, parsed, source=job.file, publish=job.publish,
                                              progress=live)
                _finish(job_id, token, result=result)
            return
    except importer.ImportRejected as exc:
        outcome = {"report": exc.report}
    except DomainError as exc:
        outcome = {"error": exc}
    except LeaseLost:
        log.warning("catalogue import job %s was taken over by another runner; its work was rolled back", job_id)
        return
    try:
        with db.transaction():
            _finish(job_id, token, **outcome)
    except LeaseLost:
        log.warning("catalogue import job %s was taken over by another runner", job_id)


def _finish(job_id: int, token: str, *, report=None, result=None, error=None) -> None:
    job = db.session.scalars(select(ImportJob).where(ImportJob.id == job_id).with_for_update()
                             .execution_options(populate_existing=True)).one()
    if job.status != "running" or job.lease_token != token:
        raise LeaseLost(job_id)
    job.finished_at, job.lease_expires_at = now_utc(), None
    if result is not None:
        job.status, job.rows_total, job.rows_done = "done", result.count, result.count
        job.instruments_created, job.first_instrument_id, job.last_instrument_id = (result.count, result.first_id,
                                                                                    result.last_id)
    elif report is not None and report.ok:
        job.status, job.rows_total, job.rows_done = "done", report.rows, report.rows
    elif report is not None:
        job.rows_total = report.rows
        _fail(job, "import_rejected", _("The file has problems; nothing was imported."), report.problems)
    else:
        _fail(job, error.code, error.message)
    _notify(job)


def _fail(job: ImportJob, code: str, message: str, problems: list | None = None) -> None:
    job.status, job.error_code, job.error_message = "failed", code, message
    job.finished_at, job.lease_expires_at = now_utc(), None
    if problems:
        job.problems, job.problem_count = encode_problems(problems), len(problems)


def _release(job_id: int, token: str) -> None:
    """Let the next claim retry a job whose run stopped with an unexpected error."""
    with db.transaction():
        db.session.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.lease_token == token,
                                                   ImportJob.status == "running").values(lease_expires_at=now_utc()))


def _message(job: ImportJob) -> str:
    filename = job.file.filename
    if job.status == "done" and job.dry_run:
        return _("Import job no. %(id)d: %(file)s was checked, %(n)d rows without problems. Confirm the import on "
                 "the job's page.", id=job.id, file=filename, n=job.rows_total)
    if job.status == "done":
        return _("Import job no. %(id)d: %(n)d instruments imported from %(file)s (numbers %(first)d to %(last)d).",
                 id=job.id, n=job.instruments_created, file=filename, first=job.first_instrument_id,
                 last=job.last_instrument_id)
    if job.problem_count:
        return _("Import job no. %(id)d: %(file)s has %(p)d problems; nothing was imported.", id=job.id,
                 file=filename, p=job.problem_count)
    return _("Import job no. %(id)d: %(file)s was not imported. %(reason)s", id=job.id, file=filename,
             reason=job.error_message)


def _notify(job: ImportJob) -> None:
    """Tell the uploader in the platform and by mail (queued in the outbox with the job's end)."""
    user = db.session.get(User, job.created_by_id)
    if user is None or user.is_disabled:
        return
    message = _message(job)
    db.session.add(Notification(user_id=user.id, kind="catalogue_import", message=message))
    outbox.enqueue(user.email, _("Catalogue import no. %(id)d has finished", id=job.id), "import_notice", user=user,
                   message=message, link=external_url("catalogue_import.job", job_id=job.id))


class _Progress:
    """Rows done, written in short transactions of their own on another connection; each write renews the lease."""

    def __init__(self, job_id: int, token: str, *, steps_per_row: int):
        self.job_id, self.token, self.steps_per_row, self.steps = job_id, token, steps_per_row, 0

    def begin(self, rows: int) -> None:
        self._write(rows_total=rows, rows_done=0)

    def advance(self, steps: int) -> None:
        self.steps += steps
        self._write(rows_done=self.steps // self.steps_per_row)

    def _write(self, **values) -> None:
        jobs = ImportJob.__table__
        try:
            with db.engine.begin() as connection:
                connection.execute(update(jobs).where(jobs.c.id == self.job_id, jobs.c.lease_token == self.token,
                                                      jobs.c.status == "running")
                                   .values(lease_expires_at=now_utc() + _lease(), **values))
        except SQLAlchemyError:  # progress only informs: a busy database must not stop the import it describes
            log.warning("progress of catalogue import job %s not written", self.job_id, exc_info=True)
