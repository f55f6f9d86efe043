"""Bulk import of the unit's catalogue by its instrument operator: upload, the dry-run report, then confirm."""

import io

from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Regexp

from ..catalogue import importer, policy
from ..catalogue.fields import FIELDS
from ..core import spreadsheet
from ..core.errors import DomainError
from ..db import db
from ..files.store import store
from .helpers import show_error

bp = Blueprint("catalogue_import", __name__, url_prefix="/provider/instruments/import")
REPORT_LIMIT = 1000  # problems shown on the page; the count says how many there are in all


class UploadForm(FlaskForm):
    file = FileField(_l("Catalogue file (CSV or XLSX)"), validators=[
        FileRequired(_l("Choose a file.")), FileAllowed(["csv", "xlsx"], _l("Only CSV or XLSX files."))])
    submit = SubmitField(_l("Check the file"))


class ConfirmForm(FlaskForm):
    file_id = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,18}$")])
    publish = BooleanField(_l("Publish at once"))
    submit = SubmitField(_l("Import"))


def _unit():
    """The signed-in instrument operator's own unit, or 403."""
    if not policy.is_operator_of(current_user, current_user.organization_id):
        abort(403)
    return current_user.organization


def _render(unit, status: int = 200, *, form=None, report=None, confirm=None):
    return render_template("import/upload.html", unit=unit, form=form or UploadForm(), report=report,
                           confirm=confirm, limit=REPORT_LIMIT, can_publish=unit.kind != "defence_unit",
                           fields=FIELDS), status


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
    try:
        report = importer.check(importer.parse_file(data, filename))
        if report.ok:
            with db.transaction():
                stored = store(data, filename, purpose=importer.PURPOSE, organization_id=unit.id,
                               created_by_id=current_user.id)
    except DomainError as exc:
        show_error(exc, form)
        return _render(unit, 422, form=form)
    if not report.ok:
        return _render(unit, 422, form=form, report=report)
    return _render(unit, form=form, report=report, confirm=ConfirmForm(data={"file_id": str(stored.id)}))


@bp.route("/confirm", methods=["POST"])
@login_required
def confirm():
    """Import the file uploaded and checked before (it must be this unit's upload)."""
    unit = _unit()
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with db.transaction():
            result = importer.import_stored(current_user._get_current_object(), unit, int(form.file_id.data),
                                            publish=bool(form.publish.data))
    except importer.ImportRejected as exc:
        return _render(unit, 422, report=exc.report)
    except DomainError as exc:
        if exc.status == 404:
            raise
        show_error(exc)
        return _render(unit, exc.status)
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
