"""Quarterly operation reports: the list a person may read, on-demand generation, downloads."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..accounts.models import Organization
from ..catalogue.models import Instrument
from ..core.clock import local_today
from ..core.errors import DomainError
from ..db import db
from ..reporting import access, generation
from ..reporting.forms import QUARTERS, GenerateReportForm
from ..reporting.periods import previous_quarter
from .actions import run_action
from .paging import page_arg

bp = Blueprint("reports", __name__, url_prefix="/reports")
PER_PAGE = 50


def _scope_choices() -> list[tuple[str, str]]:
    if not access.may_generate_report(current_user, None):  # only the commission makes the platform's
        return [(str(current_user.organization_id), current_user.organization.name)]
    units = db.session.execute(select(Organization.id, Organization.name).where(
        Organization.id.in_(select(Instrument.owner_id).distinct())).order_by(Organization.name))
    return [("platform", _("The whole platform")), *((str(u.id), u.name) for u in units)]


def _form() -> GenerateReportForm:
    form = GenerateReportForm()
    form.scope.choices = _scope_choices()
    form.quarter.choices = QUARTERS
    if not form.is_submitted():
        form.year.data, quarter = previous_quarter(local_today())
        form.quarter.data = str(quarter)
    return form


def _render(form: GenerateReportForm, status: int = 200):
    page = page_arg()
    stmt = access.readable_reports(current_user)
    reports = list(db.session.scalars(stmt.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)))
    names = dict(db.session.execute(select(Organization.id, Organization.name).where(
        Organization.id.in_({r.unit_id for r in reports if r.unit_id}))).all())
    return render_template("reports/index.html", form=form, reports=reports[:PER_PAGE], names=names, page=page,
                           more=len(reports) > PER_PAGE), status


@bp.get("/")
@login_required
def index():
    if not access.may_use_reports(current_user):
        abort(403)
    return _render(_form())


@bp.post("/generate")
@login_required
def generate():
    if not access.may_use_reports(current_user):
        abort(403)
    form = _form()
    if not form.validate_on_submit():
        return _render(form, 422)
    unit_id = None if form.scope.data == "platform" else int(form.scope.data)
    if not access.may_generate_report(current_user, unit_id):
        abort(403)

    def generate_and_store():
        # Rendering reads for a while; only storing the files takes the write lock.
        rendered = generation.render(form.year.data, int(form.quarter.data), unit_id=unit_id)
        with db.transaction():
            return generation.store_rendered(rendered, actor=current_user)

    done = run_action(generate_and_store, form=form, in_transaction=False)
    if done.refused:
        return _render(form, done.status)
    flash(_("The report was generated (%(n)d files).", n=len(done.value)), "success")
    return redirect(url_for(".index"))


@bp.get("/<int:report_id>/download")
@login_required
def download(report_id: int):
    try:
        report = access.get_readable_report(current_user, report_id)
    except DomainError:  # unreadable or unknown alike: 404, so a report's existence is not revealed
        abort(404)
    stored = report.file
    response = Response(stored.data, mimetype=stored.content_type.split(";")[0])
    response.headers["Content-Disposition"] = f'attachment; filename="{stored.filename}"'
    response.headers["X-Content-SHA256"] = stored.sha256
    return response
