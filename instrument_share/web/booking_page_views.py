"""An instrument's booking page: the week calendar, the rules and contract terms up front, and the booking forms.

A form carries a single-use nonce; its first submission claims it as an idempotency key (bookings.idempotency),
so posting the same form again shows the booking it already made instead of making a second one.
"""

import hashlib
import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..bookings import access, contracts, idempotency, service
from ..bookings.availability import may_see_schedule
from ..bookings.forms import SampleOrderForm, TimeBookingForm, check_mode, new_nonce, place_refusal
from ..bookings.ruleset import load_rules
from ..bookings.states import BookingStatus
from ..bookings.week import STATE_LABELS, WEEKDAYS, build_week, monday_of, opening_by_weekday, upcoming_blackouts
from ..catalogue import access as catalogue_access
from ..catalogue.models import Instrument
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..core.clock import local_today, local_zone, now_utc
from ..core.errors import DomainError
from .actions import refusal_status, run_action, show_refusal

bp = Blueprint("book", __name__)


def _viewer():
    return viewer_for(current_user if current_user.is_authenticated else None)


@bp.app_template_global()
def schedule_visible(instrument: Instrument) -> bool:
    """For the instrument page: whether to link to the booking page (those who may see the schedule)."""
    return may_see_schedule(_viewer(), instrument)


def barrier(instrument: Instrument) -> str | None:
    """Why the visitor cannot book here, shown instead of the forms: the refusal the service would give."""
    refusal = access.booking_refusal(current_user, instrument)
    return refusal.message if refusal else None


def _modes(instrument: Instrument, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    from ..catalogue.fields import SERVICE_MODE_LABELS

    return [(m, str(SERVICE_MODE_LABELS[m])) for m in instrument.modes if m in kinds]


def _forms(instrument: Instrument, time_form=None, sample_form=None):
    time_form = time_form or TimeBookingForm(prefix="time", formdata=None)
    sample_form = sample_form or SampleOrderForm(prefix="sample", formdata=None)
    time_form.mode.choices = _modes(instrument, service.TIMED_MODES)
    sample_form.mode.choices = _modes(instrument, service.SAMPLE_MODES)
    for form in (time_form, sample_form):
        form.nonce.data = new_nonce()  # every page shows fresh forms; a refused request may be corrected and sent
    return time_form, sample_form


def _render(instrument: Instrument, status: int = 200, **forms):
    viewer = _viewer()
    item = instrument_json(instrument, viewer)
    if not may_see_schedule(viewer, instrument):
        return render_template("bookings/not_cleared.html", item=item, instrument=instrument), 403
    monday = monday_of(request.args.get("week"), local_today())
    rules = load_rules(instrument.id)
    time_form, sample_form = _forms(instrument, forms.get("time_form"), forms.get("sample_form"))
    return render_template(
        "bookings/book.html", item=item, instrument=instrument, rules=rules, week=build_week(instrument, rules, monday),
        weekdays=WEEKDAYS, state_labels=STATE_LABELS, opening=opening_by_weekday(rules),
        blackouts=upcoming_blackouts(rules, now_utc()), terms=contracts.template_for(instrument.owner_id),
        barrier=barrier(instrument), time_form=time_form, sample_form=sample_form,
        is_operator=catalogue_access.is_operator_of(current_user, instrument.owner_id)), status


def _instrument(instrument_id: int) -> Instrument:
    return catalogue_access.get_visible_instrument(instrument_id, _viewer())  # 404 when not visible


@bp.route("/instruments/<int:instrument_id>/book")
def page(instrument_id: int):
    return _render(_instrument(instrument_id))


def _form_digest(form) -> str:
    values = {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "nonce")}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _show_booking_refusal(exc: DomainError, form) -> None:
    """A booking rule's refusal goes next to the field it concerns (bookings.forms.place_refusal)."""
    if place_refusal(exc, form):
        flash(exc.message, "error-summary")
    else:
        show_refusal(exc, form)


def _submit(instrument: Instrument, form, req: service.Request, form_name: str):
    """Create the booking once per form nonce; a repeated post leads to the booking the first one made."""
    me = current_user._get_current_object()
    key = f"form:{form.nonce.data}"
    try:  # the claim is its own transaction, kept whatever the booking's fate (bookings.idempotency)
        replay = idempotency.claim(me.id, key, _form_digest(form))
    except DomainError as exc:  # the form was sent before with other values, or is still being processed
        flash(_("This form was already submitted with other values; check your bookings before sending the new "
                "form below.") if exc.code == "idempotency_key_reused" else
              _("This form was already submitted and is still being processed; check your bookings in a moment."),
              "error")
        return _render(instrument, refusal_status(exc), **{form_name: form})
    if replay is not None:
        if replay.status == 201:
            flash(_("This form was already sent; here is the booking it made."), "info")
            return redirect(url_for("bookings.detail", booking_id=replay.body["id"]))
        abort(409)
    def book():
        made = service.create_booking(actor=me, req=req)
        idempotency.store(me.id, key, 201, {"id": made.id})
        return made

    try:
        done = run_action(book, form=form, show=_show_booking_refusal)
    except Exception:
        idempotency.release(me.id, key)
        raise
    if done.refused:
        idempotency.release(me.id, key)  # a refused request may be corrected and sent again
        return _render(instrument, done.status, **{form_name: form})
    booking = done.value
    if booking.status == BookingStatus.confirmed:
        flash(_("Booked and confirmed: contract %(no)s.", no=booking.contract_no), "info")
    else:
        flash(_("Your request was sent; the unit will confirm or reject it."), "info")
    return redirect(url_for("bookings.detail", booking_id=booking.id))


def _posting(instrument_id: int) -> Instrument:
    if not current_user.is_authenticated:
        abort(401)
    return _instrument(instrument_id)


@bp.route("/instruments/<int:instrument_id>/book/time", methods=["POST"])
def book_time(instrument_id: int):
    instrument = _posting(instrument_id)
    form = TimeBookingForm(prefix="time")
    form.mode.choices = _modes(instrument, service.TIMED_MODES)
    if not (form.validate_on_submit() & check_mode(form, service.TIMED_MODES)):
        return _render(instrument, 422, time_form=form)
    start, end = form.interval(local_zone())
    return _submit(instrument, form, service.Request(instrument.id, form.mode.data, start=start, end=end),
                   "time_form")


@bp.route("/instruments/<int:instrument_id>/book/samples", methods=["POST"])
def book_samples(instrument_id: int):
    instrument = _posting(instrument_id)
    form = SampleOrderForm(prefix="sample")
    form.mode.choices = _modes(instrument, service.SAMPLE_MODES)
    if not (form.validate_on_submit() & check_mode(form, service.SAMPLE_MODES)):
        return _render(instrument, 422, sample_form=form)
    req = service.Request(instrument.id, form.mode.data, samples=form.samples.data, wanted_by=form.wanted_by.data)
    return _submit(instrument, form, req, "sample_form")
