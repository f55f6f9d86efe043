"""Booking pages: my organisation's bookings, the operators' queue, a booking with its actions, and its printable
service contract."""

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..bookings import access, calendars, contracts, service
from ..bookings.forms import CancelForm, ReasonForm
from ..bookings.labels import BOOKING_STATUS_LABELS
from ..bookings.models import Booking
from ..bookings.states import CANCELLABLE, BookingStatus
from ..catalogue import access as catalogue_access
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..db import db
from .actions import run_action
from .helpers import safe_next
from .paging import page_arg

bp = Blueprint("bookings", __name__)
PER_PAGE = 30


def me():
    return current_user._get_current_object()


def _booking(booking_id: int) -> Booking:
    booking = access.find_booking(booking_id, current_user)
    if booking is None:
        abort(404)
    return booking


def instrument_names(bookings) -> dict[int, str]:
    """Each instrument's name as the viewer may see it."""
    viewer, names = viewer_for(me()), {}
    for b in bookings:
        if b.instrument_id not in names:
            names[b.instrument_id] = instrument_json(b.instrument, viewer).get("name_zh") or \
                _("Defence listing no. %(id)d", id=b.instrument_id)
    return names


def _listing(stmt, status: str | None):
    if status in BOOKING_STATUS_LABELS:
        stmt = stmt.where(Booking.status == status)
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(Booking.id.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    return rows, total, page


def render_mine(new_feed_url: str | None = None, status: int = 200):
    chosen = request.args.get("status") or None
    chosen = chosen if chosen in BOOKING_STATUS_LABELS else None
    rows, total, page = _listing(select(Booking).where(Booking.organization_id == current_user.organization_id),
                                 chosen)
    return render_template("bookings/list.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           chosen=chosen, names=instrument_names(rows), token=calendars.token_of(me()),
                           new_feed_url=new_feed_url), status


@bp.route("/bookings")
@login_required
def mine():
    return render_mine()


@bp.route("/bookings/queue")
@login_required
def queue():
    unit_id = current_user.organization_id
    if not catalogue_access.is_operator_of(me(), unit_id):
        abort(403)
    chosen = request.args.get("status", BookingStatus.pending)
    chosen = chosen if chosen in BOOKING_STATUS_LABELS else None
    rows, total, page = _listing(select(Booking).where(Booking.unit_id == unit_id), chosen)
    if chosen == BookingStatus.pending:  # the queue: first come, first served
        rows.sort(key=lambda b: b.id)
    return render_template("bookings/queue.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           chosen=chosen, names=instrument_names(rows), reject_form=ReasonForm(prefix="reject"))


def _render_detail(booking: Booking, status: int = 200, **forms):
    actor = me()
    return render_template(
        "bookings/detail.html", booking=booking, instrument=instrument_json(booking.instrument, viewer_for(actor)),
        is_operator=access.is_unit_operator(actor, booking),
        is_booker=access.is_booking_organisation(actor, booking), contract=contracts.contract_of(booking),
        late=service.cancellation_is_late(booking, actor), cancellable=booking.status in CANCELLABLE,
        reject_form=forms.get("reject_form") or ReasonForm(prefix="reject"),
        cancel_form=forms.get("cancel_form") or CancelForm(prefix="cancel"),
        noshow_form=forms.get("noshow_form") or ReasonForm(prefix="noshow"),
        late_warning=forms.get("late_warning", False)), status


@bp.route("/bookings/<int:booking_id>")
@login_required
def detail(booking_id: int):
    return _render_detail(_booking(booking_id))


def _done(booking: Booking, message: str):
    flash(message, "info")
    target = safe_next(request.form.get("next"), url_for("bookings.detail", booking_id=booking.id))
    return redirect(target)


def _act(booking: Booking, handler, message: str, form=None, form_name: str | None = None):
    """Run one transition; a refusal re-renders the booking with the reason (next to the form's field)."""
    done = run_action(handler, form=form)
    if done.refused:
        return _render_detail(booking, done.status, **({form_name: form} if form_name else {}))
    return _done(booking, message)


@bp.route("/bookings/<int:booking_id>/confirm", methods=["POST"])
@login_required
def confirm(booking_id: int):
    booking = _booking(booking_id)
    return _act(booking, lambda: service.confirm(actor=me(), booking=booking),
                _("Booking no. %(id)d is confirmed.", id=booking.id))


@bp.route("/bookings/<int:booking_id>/reject", methods=["POST"])
@login_required
def reject(booking_id: int):
    booking = _booking(booking_id)
    form = ReasonForm(prefix="reject")
    if not form.validate_on_submit():
        return _render_detail(booking, 422, reject_form=form)
    return _act(booking, lambda: service.reject(actor=me(), booking=booking, reason=form.reason.data or ""),
                _("Booking no. %(id)d is rejected.", id=booking.id), form, "reject_form")


@bp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
@login_required
def cancel(booking_id: int):
    booking = _booking(booking_id)
    form = CancelForm(prefix="cancel")
    if not form.validate_on_submit():
        return _render_detail(booking, 422, cancel_form=form)
    if service.cancellation_is_late(booking, me()) and form.confirm_late.data != "1":
        # Too late to cancel without consequence: say so and ask again before doing it.
        flash(_("Cancelling now is a late cancellation and counts as a violation. Confirm to cancel anyway."),
              "warning")
        return _render_detail(booking, 409, cancel_form=form, late_warning=True)
    return _act(booking, lambda: service.cancel(actor=me(), booking=booking, reason=form.reason.data or ""),
                _("Booking no. %(id)d is cancelled.", id=booking.id), form, "cancel_form")


@bp.route("/bookings/<int:booking_id>/start", methods=["POST"])
@login_required
def start(booking_id: int):
    booking = _booking(booking_id)
    return _act(booking, lambda: service.start(actor=me(), booking=booking),
                _("The arrival for booking no. %(id)d is recorded.", id=booking.id))


@bp.route("/bookings/<int:booking_id>/complete-no-show", methods=["POST"])
@login_required
def complete_no_show(booking_id: int):
    booking = _booking(booking_id)
    form = ReasonForm(prefix="noshow")
    if not form.validate_on_submit():
        return _render_detail(booking, 422, noshow_form=form)
    return _act(booking, lambda: service.complete_no_show(actor=me(), booking=booking, reason=form.reason.data or ""),
                _("The no-show of booking no. %(id)d is corrected.", id=booking.id), form, "noshow_form")


@bp.route("/bookings/<int:booking_id>/contract")
@login_required
def contract(booking_id: int):
    booking = _booking(booking_id)
    record = contracts.contract_of(booking)
    if record is None or record.contract_no is None:
        abort(404)
    terms = json.loads(record.terms)
    return render_template("bookings/contract.html", booking=booking, contract=record, terms=terms,
                           instrument=instrument_json(booking.instrument, viewer_for(current_user)))
