"""Operator pages: an instrument's booking rules (opening hours, blackouts, limits) and the unit's contract template.

The rule set is replaced as a whole (ruleset.set_rules), so adding or removing a blackout sends the current rules
with the changed blackout list.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.forms import PlainForm
from ..bookings import contracts, ruleset
from ..bookings.forms import BlackoutForm, ContractTemplateForm, RulesForm, rules_form_data
from ..catalogue import access
from ..catalogue.models import Instrument
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..core.clock import local_zone
from .actions import Outcome, run_action

bp = Blueprint("booking_admin", __name__, url_prefix="/provider")


def me():
    return current_user._get_current_object()


def _own_instrument(instrument_id: int) -> Instrument:
    instrument = access.get_visible_instrument(instrument_id, viewer_for(me()))  # 404 when the viewer may not see it
    if not access.is_operator_of(me(), instrument.owner_id):
        abort(403)
    return instrument


def _render(instrument: Instrument, status: int = 200, rules_form=None, blackout_form=None):
    current = ruleset.rules_json(instrument.id)
    rules_form = rules_form or RulesForm(prefix="rules", formdata=None, data=rules_form_data(current))
    return render_template("bookings/rules.html", instrument=instrument,
                           item=instrument_json(instrument, viewer_for(me())), rules_form=rules_form,
                           blackout_form=blackout_form or BlackoutForm(prefix="blackout", formdata=None),
                           blackouts=ruleset.blackouts_of(instrument.id), plain_form=PlainForm()), status


def _save(instrument: Instrument, payload: dict, form=None) -> Outcome:
    return run_action(lambda: ruleset.set_rules(actor=me(), instrument=instrument, payload=payload), form=form)


@bp.route("/instruments/<int:instrument_id>/booking-rules", methods=["GET", "POST"])
@login_required
def rules(instrument_id: int):
    instrument = _own_instrument(instrument_id)
    if request.method == "GET":
        return _render(instrument)
    form = RulesForm(prefix="rules")
    if not form.validate_on_submit():
        return _render(instrument, 422, rules_form=form)
    current = ruleset.rules_json(instrument.id)
    saved = _save(instrument, form.payload(current["blackouts"]), form)
    if saved.refused:
        return _render(instrument, saved.status, rules_form=form)
    flash(_("The booking rules are saved."), "info")
    return redirect(url_for("booking_admin.rules", instrument_id=instrument.id))


@bp.route("/instruments/<int:instrument_id>/booking-rules/blackouts", methods=["POST"])
@login_required
def add_blackout(instrument_id: int):
    instrument = _own_instrument(instrument_id)
    form = BlackoutForm(prefix="blackout")
    if not form.validate_on_submit():
        return _render(instrument, 422, blackout_form=form)
    start, end = form.interval(local_zone())
    current = ruleset.rules_json(instrument.id)
    current["blackouts"].append({"start": start.isoformat(), "end": end.isoformat(),
                                 "reason": (form.reason.data or "").strip()})
    saved = _save(instrument, current, form)
    if saved.refused:
        return _render(instrument, saved.status, blackout_form=form)
    flash(_("The closed period is added."), "info")
    return redirect(url_for("booking_admin.rules", instrument_id=instrument.id))


@bp.route("/instruments/<int:instrument_id>/booking-rules/blackouts/<int:blackout_id>/remove", methods=["POST"])
@login_required
def remove_blackout(instrument_id: int, blackout_id: int):
    instrument = _own_instrument(instrument_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    existing = ruleset.blackouts_of(instrument.id)
    kept = [b for b in existing if b.id != blackout_id]
    if len(kept) == len(existing):
        abort(404)
    current = ruleset.rules_json(instrument.id)
    current["blackouts"] = [{"start": b.start_at.isoformat(), "end": b.end_at.isoformat(), "reason": b.reason}
                            for b in kept]
    saved = _save(instrument, current)
    if saved.refused:
        return _render(instrument, saved.status)
    flash(_("The closed period is removed."), "info")
    return redirect(url_for("booking_admin.rules", instrument_id=instrument.id))


def _unit_id() -> int:
    unit_id = current_user.organization_id
    if not access.is_operator_of(me(), unit_id):
        abort(403)
    return unit_id


@bp.route("/contract-template", methods=["GET", "POST"])
@login_required
def contract_template():
    unit_id = _unit_id()
    if request.method == "GET":
        form = ContractTemplateForm(formdata=None, data=contracts.template_for(unit_id))
        return render_template("bookings/contract_template.html", form=form)
    form = ContractTemplateForm()
    if form.validate_on_submit():
        done = run_action(lambda: contracts.set_template(actor=me(), unit_id=unit_id, terms=form.terms()), form=form)
        if done.refused:
            return render_template("bookings/contract_template.html", form=form), done.status
        flash(_("The contract template is saved; it applies to requests made from now on."), "info")
        return redirect(url_for("booking_admin.contract_template"))
    return render_template("bookings/contract_template.html", form=form), 422
