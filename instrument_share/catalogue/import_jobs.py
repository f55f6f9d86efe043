"""Catalogue imports as jobs: which imports leave the web request, queuing one, and who sees it.

A file of more than IMPORT_INLINE_MAX_ROWS rows (or whose workbook holds more than such a file needs) is checked
and imported by the scheduler (import_runner.py) through the same importer as an inline import. Services never
commit: the request owns the transaction, so the stored file and its job are written together.
"""

import json

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import Organization
from ..db import db
from ..files.models import StoredFile
from ..files.store import store
from . import importer

# The job loader lives in access.py; the import pages still call it by this name.
from .import_bounds import Size
from .models import ImportJob

ACTIVE = ("queued", "running")


def runs_in_background(size: Size) -> bool:
    return not size.fits(importer.limits(rows=current_app.config["IMPORT_INLINE_MAX_ROWS"]))


def queue(actor, unit: Organization, stored: StoredFile, *, dry_run: bool, publish: bool = False) -> ImportJob:
    """Queue the check (dry run) or the import of a file the unit uploaded. A second click finds the job already
    waiting or running for the same file instead of queuing another."""
    importer.require_importer(actor, unit, publish=publish)
    waiting = db.session.scalar(select(ImportJob).where(
        ImportJob.file_id == stored.id, ImportJob.dry_run == dry_run, ImportJob.status.in_(ACTIVE)).limit(1))
    if waiting is not None:
        return waiting
    job = ImportJob(organization_id=unit.id, created_by_id=actor.id, file_id=stored.id, dry_run=dry_run,
                    publish=publish and not dry_run, status="queued", rows_done=0, problem_count=0, attempts=0)
    db.session.add(job)
    db.session.flush()
    return job


def store_and_queue_check(actor, unit: Organization, data: bytes, filename: str) -> ImportJob:
    """An upload too large to check in the request: keep the file and queue its dry run."""
    importer.require_importer(actor, unit)
    stored = store(data, filename, purpose=importer.PURPOSE, organization_id=unit.id, created_by_id=actor.id)
    return queue(actor, unit, stored, dry_run=True)


def recent_jobs(unit: Organization, limit: int = 10) -> list[ImportJob]:
    return list(db.session.scalars(select(ImportJob).where(ImportJob.organization_id == unit.id)
                                   .order_by(ImportJob.id.desc()).limit(limit)))


def problems(job: ImportJob) -> list[importer.Problem]:
    return [importer.Problem(*item) for item in json.loads(job.problems or "[]")]


def encode_problems(found: list[importer.Problem]) -> str:
    return json.dumps([[p.row, p.column, p.field, p.reason] for p in found], ensure_ascii=False)


def error_report(job: ImportJob) -> list[list]:
    """The rows of the downloadable error report: every problem, or the reason the file was refused."""
    rows = [[_("Row"), _("Column"), _("Problem")]]
    rows += [[p.row, p.column, p.reason] for p in problems(job)]
    if len(rows) == 1 and job.error_message:
        rows.append(["", "", job.error_message])
    return rows
