"""Bulk import of the unit's catalogue by its instrument operator: upload, the dry-run report, then confirm.

A file larger than IMPORT_INLINE_MAX_ROWS is checked and imported by the scheduler instead (catalogue/import_jobs.py);
its job page shows the progress, then the result or the errors.
"""

import io

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp

from ..catalogue import access, import_jobs, importer
from ..catalogue.fields import FIELDS
from ..core import spreadsheet
from ..core.errors import DomainError
from ..db import db
from ..files.store import store
from ..forms import Form
from .actions import run_action, show_refusal

bp = Blueprint("catalogue_import", __name__, url_prefix="/provider/instruments/import")
REPORT_LIMIT = 1000  # problems shown on the page; the count says how many there are in all
REFRESH_SECONDS = 3  # a job page reloads itself this often while the job waits or runs


class UploadForm(Form):
    file = FileField(_l("Catalogue file (CSV or XLSX)"), validators=[
        FileRequired(_l("Choose a file.")), FileAllowed(["csv", "xlsx"], _l("Only CSV or XLSX files."))])
    submit = SubmitField(_l("Check the file"))


class ConfirmForm(Form):
    file_id = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,18}$")])
    publish = BooleanField(_l("Publish at once"))
    submit = SubmitField(_l("Import"))


def _unit():
    """The signed-in instrument operator's own unit, or 403."""
    if not access.is_operator_of(current_user, current_user.organization_id):
        abort(403)
    return current_user.organization


def _render(unit, status: int = 200, *, form=None, report=None, confirm=None):
    return render_template("import/upload.html", unit=unit, form=form or UploadForm(), report=report,
                           confirm=confirm, limit=REPORT_LIMIT, can_publish=unit.kind != "defence_unit",
                           fields=FIELDS, jobs=import_jobs.recent_jobs(unit)), status


@bp.route("")
@login_required
def upload_page():
    return _render(_unit())


@bp.route("", methods=["POST"])
@login_required
def upload():
    """A dry run: check every row; a file without problems is kept for the confirm step."""
    unit = _unit()
    form = UploadForm()
    if not form.validate_on_submit():
        return _render(unit, 422, form=form)
    data, filename = form.file.data.read(), form.file.data.filename or "catalogue.csv"

    def dry_run():
        """(job, None, None) when the scheduler checks the file, else (None, report, the file kept if it is ok)."""
        # Measuring stops at the limits (422); a file too large to check here goes to the scheduler.
        if import_jobs.runs_in_background(importer.measure_file(data, filename)):
            with db.transaction():
                return import_jobs.store_and_queue_check(current_user._get_current_object(), unit, data,
                                                         filename), None, None
        report = importer.check(importer.parse_file(data, filename))
        if not report.ok:
            return None, report, None
        with db.transaction():
            return None, report, store(data, filename, purpose=importer.PURPOSE, organization_id=unit.id,
                                       created_by_id=current_user.id)

    done = run_action(dry_run, form=form, in_transaction=False)
    if done.refused:
        return _render(unit, done.status, form=form)
    job, report, stored = done.value
    if job is not None:
        return redirect(url_for("catalogue_import.job", job_id=job.id))
    if stored is None:
        return _render(unit, 422, form=form, report=report)
    return _render(unit, form=form, report=report, confirm=ConfirmForm(data={"file_id": str(stored.id)}))


def _show_import_refusal(exc: DomainError, form) -> None:
    """A file that fails the check shows its report of problems instead of a message."""
    if not isinstance(exc, importer.ImportRejected):
        show_refusal(exc, form)


@bp.route("/confirm", methods=["POST"])
@login_required
def confirm():
    """Import the file uploaded and checked before (it must be this unit's upload)."""
    unit = _unit()
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    actor, publish = current_user._get_current_object(), bool(form.publish.data)

    def run_import():
        """(job, None) when the scheduler imports the file, else (None, the import's result)."""
        stored = importer.stored_import_file(unit, int(form.file_id.data))
        if import_jobs.runs_in_background(importer.measure_file(stored.data, stored.filename)):
            with db.transaction():
                return import_jobs.queue(actor, unit, stored, dry_run=False, publish=publish), None
        with db.transaction():
            return None, importer.import_stored(actor, unit, stored.id, publish=publish)

    done = run_action(run_import, in_transaction=False, show=_show_import_refusal)
    if done.refused:
        rejected = isinstance(done.refusal, importer.ImportRejected)
        return _render(unit, done.status, report=done.refusal.report if rejected else None)
    job, result = done.value
    if job is not None:
        return redirect(url_for("catalogue_import.job", job_id=job.id))
    if result.published:
        flash(_("%(n)d instruments imported and published (numbers %(first)d to %(last)d).", n=result.count,
                first=result.first_id, last=result.last_id), "info")
    else:
        flash(_("%(n)d instruments imported as drafts (numbers %(first)d to %(last)d).", n=result.count,
                first=result.first_id, last=result.last_id), "info")
    return redirect(url_for("catalogue_import.upload_page"))


@bp.route("/template.csv")
def template():
    """An empty catalogue with the national column names (UTF-8 with BOM, so Excel shows the Chinese)."""
    body = spreadsheet.csv_bytes([[f.header for f in FIELDS]])
    return send_file(io.BytesIO(body), mimetype="text/csv", as_attachment=True,
                     download_name="仪器目录导入模板.csv", max_age=0)


@bp.route("/jobs/<int:job_id>")
@login_required
def job(job_id: int):
    """A background check or import: progress while it runs (the page reloads itself), then result or errors."""
    found = access.get_visible_import_job(current_user, job_id)  # 404 for anyone but the unit's operators
    active = found.status in import_jobs.ACTIVE
    problems = import_jobs.problems(found) if found.status == "failed" else []
    report = importer.Report(found.file.filename, found.rows_total or 0, problems) if problems else None
    confirm_form = None
    if found.dry_run and found.status == "done":
        confirm_form = ConfirmForm(data={"file_id": str(found.file_id)})
    auto_refresh = active and request.args.get("refresh") != "0"
    response = make_response(render_template(
        "import/job.html", job=found, report=report, limit=REPORT_LIMIT, confirm=confirm_form,
        can_publish=found.organization.kind != "defence_unit", active=active, auto_refresh=auto_refresh,
        refresh_seconds=REFRESH_SECONDS))
    if auto_refresh:  # the Refresh header reloads the page without any script; ?refresh=0 stops it
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.route("/jobs/<int:job_id>/errors.csv")
@login_required
def job_errors(job_id: int):
    """The problems of a failed check or import as CSV, written by the one spreadsheet writer."""
    found = access.get_visible_import_job(current_user, job_id)
    if found.status != "failed":
        abort(404)
    body = spreadsheet.csv_bytes(import_jobs.error_report(found))
    return send_file(io.BytesIO(body), mimetype=spreadsheet.CSV_MIMETYPE, as_attachment=True,
                     download_name=f"导入错误报告-{found.id}.csv", max_age=0)
