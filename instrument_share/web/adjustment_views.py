"""Adjustment requests for operators: the unit's queue of requests waiting for a second operator, and approving or
rejecting one (from the queue or from the service record's page). The rules live in instrument_share.ledger.entries;
a refusal is shown next to the field it names on the page the operator came from."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func, select

from ..accounts.models import User
from ..db import db
from ..ledger import access, entries
from ..ledger.forms import ApproveForm, ReasonForm
from ..ledger.models import AdjustmentRequest
from . import ledger_views
from .actions import run_action
from .ledger_views import me
from .paging import page_arg

bp = Blueprint("adjustments", __name__)
PER_PAGE = 30
FROM_QUEUE = "queue"  # ?from=queue: the decision was taken on the queue page, so come back there


def _reject_form(adjustment_id: int, posted: ReasonForm | None = None) -> ReasonForm:
    """The reject form of one row; field ids carry the request so that several rows stay distinct on one page."""
    form = posted or ReasonForm(prefix="reject", formdata=None)
    form.reason.id = form.reason.label.field_id = f"reject-reason-{adjustment_id}"
    return form


def _queue(status: int = 200, failed: tuple[int, ReasonForm] | None = None):
    actor = me()
    unit_id = actor.organization_id
    if not access.may_write(actor, unit_id):
        abort(403)
    stmt = select(AdjustmentRequest).where(AdjustmentRequest.unit_id == unit_id,
                                           AdjustmentRequest.status == "pending_approval")
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(AdjustmentRequest.created_at, AdjustmentRequest.id)
                                   .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    requesters = dict(db.session.execute(select(User.id, User.username).where(
        User.id.in_({a.requested_by_id for a in rows}))).all())
    forms = {a.id: _reject_form(a.id, failed[1] if failed and failed[0] == a.id else None) for a in rows}
    return render_template("ledger/adjustment_queue.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           reject_forms=forms, threshold=entries.threshold_fen(), requesters=requesters,
                           names={a.id: ledger_views.instrument_name(a.service_record.instrument) for a in rows}), \
        status


@bp.route("/adjustment-requests")
@login_required
def queue():
    return _queue()


def _decide(adjustment: AdjustmentRequest, form, form_name: str, handler, message: str):
    """Validate the form, decide in one transaction, and go back to the queue or the record."""
    from_queue = request.args.get("from") == FROM_QUEUE

    def again(status: int):
        if from_queue and access.may_write(me(), me().organization_id):
            return _queue(status, failed=(adjustment.id, form) if form_name == "reject_form" else None)
        return ledger_views.render_record(adjustment.service_record, status, **{form_name: form})

    if not form.validate_on_submit():
        return again(422)
    done = run_action(lambda: handler(form), form=form, field_names=ledger_views.FORM_NAMES)
    if done.refused:
        return again(done.status)
    flash(message, "info")
    if from_queue:
        return redirect(url_for("adjustments.queue"))
    return redirect(url_for("ledger.detail", service_record_id=adjustment.service_record_id))


@bp.route("/adjustment-requests/<int:adjustment_request_id>/approve", methods=["POST"])
@login_required
def approve(adjustment_request_id: int):
    adjustment = access.get_readable_request(me(), adjustment_request_id)
    return _decide(adjustment, ApproveForm(), "approve_form",
                   lambda _f: entries.approve_adjustment(actor=me(), request=adjustment),
                   _("The adjustment is approved and added to the ledger."))


@bp.route("/adjustment-requests/<int:adjustment_request_id>/reject", methods=["POST"])
@login_required
def reject(adjustment_request_id: int):
    adjustment = access.get_readable_request(me(), adjustment_request_id)
    return _decide(adjustment, ReasonForm(prefix="reject"), "reject_form",
                   lambda f: entries.reject_adjustment(actor=me(), request=adjustment, reason=f.reason.data),
                   _("The adjustment request is rejected."))
