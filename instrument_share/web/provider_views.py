"""A provider unit's own instruments: list by status, create, edit, publish / submit, suspend, resume, retire.

Views stay thin: the catalogue services check every rule. Each object is loaded as the viewer may see it (404
otherwise), then the viewer's right to act is checked (403), then the service acts.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from ..accounts.roles import Role
from ..catalogue import access, defence, listings
from ..catalogue.fields import FIELDS, SERVICE_MODE_LABELS, STATUS_LABELS, VISIBILITY_LABELS, Status
from ..catalogue.forms import RESTRICTABLE_LABELS, InstrumentForm, SuspendForm, form_data, normalised
from ..catalogue.models import Instrument, InstrumentCategory
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..db import db
from .actions import run_action
from .helpers import role_required
from .paging import page_arg

bp = Blueprint("provider", __name__, url_prefix="/provider")
PER_PAGE = 50


def me():
    return current_user._get_current_object()


def all_categories() -> list[InstrumentCategory]:
    return list(db.session.scalars(select(InstrumentCategory).order_by(InstrumentCategory.code)))


def listing_context() -> dict:
    """What the listing templates need to show values: field labels, categories, mode and status labels."""
    return {"fields": FIELDS, "categories": {c.code: c for c in all_categories()}, "modes": SERVICE_MODE_LABELS,
            "instrument_status_labels": STATUS_LABELS, "visibility_labels": VISIBILITY_LABELS,
            "restrictable_labels": RESTRICTABLE_LABELS}


def _require_unit_operator() -> int:
    """The signed-in person is an instrument operator of a verified provider unit; returns the unit's id."""
    unit_id = current_user.organization_id
    if not access.is_operator_of(me(), unit_id):
        abort(403)
    return unit_id


def _own_instrument(instrument_id: int) -> Instrument:
    instrument = access.get_visible_instrument(instrument_id, viewer_for(me()))  # 404 when the viewer may not see it
    access.require_operator(me(), instrument)  # 403 when the viewer may see it but not manage it
    return instrument


@bp.route("/instruments")
@role_required(Role.provider_operator)
def instruments():
    unit_id = _require_unit_operator()
    status = request.args.get("status") or None
    stmt = select(Instrument).where(Instrument.owner_id == unit_id).order_by(Instrument.id.desc())
    if status in Status.__members__:
        stmt = stmt.where(Instrument.status == status)
    else:
        status = None
    counts = dict(db.session.execute(select(Instrument.status, func.count()).where(Instrument.owner_id == unit_id)
                                     .group_by(Instrument.status)).all())
    total = counts.get(status, 0) if status else sum(counts.values())
    page = page_arg()
    viewer = viewer_for(me())
    rows = [(instrument_json(i, viewer), i) for i in
            db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE))]
    return render_template("provider/instruments.html", rows=rows, status=status, counts=counts, total=total,
                           page=page, per_page=PER_PAGE, **listing_context())


def _render_form(form, instrument=None, data=None, status: int = 200):
    return render_template("provider/instrument_form.html", form=form, instrument=instrument, item=data,
                           **listing_context()), status


@bp.route("/instruments/new", methods=["GET", "POST"])
@role_required(Role.provider_operator)
def create():
    _require_unit_operator()
    form = InstrumentForm().setup(all_categories())
    if form.validate_on_submit():
        done = run_action(lambda: listings.create_instrument(actor=me(), values=form.values()), form=form)
        if done.refused:
            return _render_form(form, status=done.status)
        flash(_("The instrument was saved as a draft."), "info")
        return redirect(url_for("provider.manage", instrument_id=done.value.id))
    return _render_form(form, status=422 if form.errors else 200)


def current_values(data: dict) -> dict:
    """What the edit form starts from: the listing, with the pending revision's changes over it."""
    values = dict(data)
    revision = data.get("pending_revision")
    if revision:
        values |= revision["changes"]
    return form_data(values)


@bp.route("/instruments/<int:instrument_id>/edit", methods=["GET", "POST"])
@role_required(Role.provider_operator)
def edit(instrument_id: int):
    instrument = _own_instrument(instrument_id)
    data = instrument_json(instrument, viewer_for(me()))
    before = current_values(data)
    form = InstrumentForm(data=before).setup(all_categories(), before.get("category_code"))
    if form.validate_on_submit():
        changes = {name: value for name, value in form.values().items()
                   if normalised(name, value) != normalised(name, before.get(name))}
        if not changes:
            flash(_("Nothing was changed."), "info")
            return redirect(url_for("provider.manage", instrument_id=instrument.id))
        done = run_action(lambda: listings.update_instrument(actor=me(), instrument=instrument, values=changes),
                          form=form)
        if done.refused:
            return _render_form(form, instrument, data, status=done.status)
        if instrument.pending_revision is not None:
            flash(_("The changes wait in a revision: submit it for confidentiality review and approval. Until then "
                    "the approved version stays what others see."), "info")
        else:
            flash(_("Saved."), "info")
        return redirect(url_for("provider.manage", instrument_id=instrument.id))
    return _render_form(form, instrument, data, status=422 if form.errors else 200)


def _render_manage(instrument: Instrument, status: int = 200, suspend_form=None):
    data = instrument_json(instrument, viewer_for(me()))
    return render_template("provider/instrument.html", instrument=instrument, item=data,
                           suspend_form=suspend_form or SuspendForm(prefix="suspend"), **listing_context()), status


@bp.route("/instruments/<int:instrument_id>")
@role_required(Role.provider_operator)
def manage(instrument_id: int):
    return _render_manage(_own_instrument(instrument_id))


ACTIONS = {
    "publish": (lambda actor, i: listings.publish(actor=actor, instrument=i), lambda: _("Published.")),
    "submit": (lambda actor, i: defence.submit(actor=actor, instrument=i),
               lambda: _("Submitted for confidentiality review.")),
    "resume": (lambda actor, i: listings.resume(actor=actor, instrument=i), lambda: _("The listing is open again.")),
    "retire": (lambda actor, i: listings.retire(actor=actor, instrument=i), lambda: _("The listing is retired.")),
}


@bp.route("/instruments/<int:instrument_id>/<any(publish, submit, resume, retire):action>", methods=["POST"])
@role_required(Role.provider_operator)
def act(instrument_id: int, action: str):
    instrument = _own_instrument(instrument_id)
    handler, message = ACTIONS[action]
    done = run_action(lambda: handler(me(), instrument))
    if done.refused:
        return _render_manage(instrument, done.status)
    flash(message(), "info")
    return redirect(url_for("provider.manage", instrument_id=instrument.id))


@bp.route("/instruments/<int:instrument_id>/suspend", methods=["POST"])
@role_required(Role.provider_operator)
def suspend(instrument_id: int):
    instrument = _own_instrument(instrument_id)
    form = SuspendForm(prefix="suspend")
    if form.validate_on_submit():
        done = run_action(lambda: listings.suspend(actor=me(), instrument=instrument, reason=form.reason.data or ""),
                          form=form)
        if done.refused:
            return _render_manage(instrument, done.status, suspend_form=form)
        flash(_("The listing is suspended."), "info")
        return redirect(url_for("provider.manage", instrument_id=instrument.id))
    return _render_manage(instrument, 422, suspend_form=form)
