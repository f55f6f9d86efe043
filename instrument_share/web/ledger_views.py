"""Service record and ledger pages: recording a service (from a booking or stand-alone), the lists for the provider
and the user organisation with what is owed, and a record with its ledger, adjustment requests, disputes and rating.
Approving and rejecting adjustment requests: adjustment_views.
The rules live in instrument_share.ledger; a refusal is shown next to the field it names."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..accounts.models import Organization
from ..bookings import access as booking_access
from ..bookings.models import Booking
from ..bookings.service import SAMPLE_MODES
from ..bookings.states import BookingStatus
from ..catalogue.fields import SERVICE_MODE_LABELS
from ..catalogue.models import Instrument
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..core.clock import local_zone, now_utc
from ..db import db
from ..ledger import access, disputes, entries, ratings, service_records
from ..ledger.forms import (
    AnswerForm,
    EntryForm,
    RatingForm,
    ReasonForm,
    ServiceTimesForm,
    StandaloneRecordForm,
)
from ..ledger.models import AdjustmentRequest, RevenueEntry, ServiceRecord
from .actions import run_action
from .paging import page_arg

bp = Blueprint("ledger", __name__)
PER_PAGE = 30


def me():
    return current_user._get_current_object()


def instrument_name(instrument: Instrument) -> str:
    return instrument_json(instrument, viewer_for(me())).get("name_zh") or \
        _("Defence listing no. %(id)d", id=instrument.id)


@bp.app_template_global("service_ratings")
def service_ratings(instrument: Instrument) -> dict:
    """The instrument's and its unit's average user ratings, for the instrument page."""
    return {"instrument": ratings.instrument_rating(instrument.id), "unit": ratings.unit_rating(instrument.owner_id)}


# ------------------------------------------------------------------------------------------------ recording


def _booking(booking_id: int) -> Booking:
    booking = booking_access.find_booking(booking_id, current_user)
    if booking is None:
        abort(404)
    return booking


def _recordable(booking: Booking) -> bool:
    return booking.status == BookingStatus.in_progress or (
        booking.status == BookingStatus.confirmed and booking.mode in SAMPLE_MODES)


@bp.route("/bookings/<int:booking_id>/service-record", methods=["GET", "POST"])
@login_required
def from_booking(booking_id: int):
    booking = _booking(booking_id)
    existing = service_records.record_of_booking(booking.id)
    if existing is not None and access.may_read(me(), existing):
        return redirect(url_for("ledger.detail", service_record_id=existing.id))
    if not access.may_write(me(), booking.unit_id):
        abort(403)
    if not _recordable(booking):
        abort(409)
    form = ServiceTimesForm()
    if request.method == "GET" and booking.start_at is not None:
        zone = local_zone()
        start, end = booking.start_at.astimezone(zone), booking.end_at.astimezone(zone)
        form.start_date.data, form.start_time.data = start.date(), start.strftime("%H:%M")
        form.end_date.data, form.end_time.data = end.date(), end.strftime("%H:%M")
    if request.method == "GET" and booking.samples:
        form.samples.data = booking.samples
    status = 200
    if form.validate_on_submit():
        start, end = form.interval(local_zone())
        done = run_action(lambda: service_records.record_from_booking(
            actor=me(), booking=booking, actual_start=start, actual_end=end, samples=form.samples.data,
            result_delivered_on=form.result_delivered_on.data), form=form, field_names=FORM_NAMES)
        if not done.refused:
            flash(_("The service is recorded; booking no. %(id)d is completed.", id=booking.id), "info")
            return redirect(url_for("ledger.detail", service_record_id=done.value.id))
        status = done.status
    elif request.method == "POST":
        status = 422
    return render_template("ledger/record_form.html", form=form, booking=booking,
                           instrument=instrument_name(booking.instrument)), status


# The ledger services' field names (actual_start, amount_fen) and the form fields that show them.
FORM_NAMES = {"actual_start": "start_time", "actual_end": "end_time", "amount_fen": "amount"}


@bp.route("/service-records/new", methods=["GET", "POST"])
@login_required
def new():
    actor = me()
    if not access.may_write(actor, actor.organization_id):
        abort(403)
    instruments = list(db.session.scalars(select(Instrument).where(Instrument.owner_id == actor.organization_id)
                                          .order_by(Instrument.id)))
    form = StandaloneRecordForm()
    form.instrument_id.choices = [(i.id, f"{i.name_zh} ({i.model or '—'})") for i in instruments]
    form.mode.choices = [(k.value, label) for k, label in SERVICE_MODE_LABELS.items()]
    status = 200
    if form.validate_on_submit():
        uscc = (form.organization_uscc.data or "").strip().upper()
        organization = db.session.scalar(select(Organization).where(Organization.uscc == uscc)) if uscc \
            else actor.organization
        if organization is None:
            form.organization_uscc.errors.append(_("No organisation with this code is registered."))
            return render_template("ledger/new.html", form=form), 422
        start, end = form.interval(local_zone())
        done = run_action(lambda: service_records.record_standalone(
            actor=actor, instrument=db.session.get(Instrument, form.instrument_id.data),
            organization=db.session.merge(organization), mode=form.mode.data, actual_start=start,
            actual_end=end, samples=form.samples.data, result_delivered_on=form.result_delivered_on.data),
            form=form, field_names=FORM_NAMES)
        if not done.refused:
            flash(_("The service is recorded."), "info")
            return redirect(url_for("ledger.detail", service_record_id=done.value.id))
        status = done.status
    elif request.method == "POST":
        status = 422
    return render_template("ledger/new.html", form=form), status


# ------------------------------------------------------------------------------------------------ lists


@bp.route("/service-records")
@login_required
def index():
    actor = me()
    scopes = access.record_scopes(actor)
    scope = request.args.get("scope") if request.args.get("scope") in scopes else scopes[0]
    stmt = access.visible_records(actor)
    if scope == "unit":
        stmt, totals = stmt.where(ServiceRecord.unit_id == actor.organization_id), \
            entries.unit_balance(actor.organization_id)
    elif scope == "mine":
        stmt, totals = stmt.where(ServiceRecord.organization_id == actor.organization_id), \
            entries.organization_balance(actor.organization_id)
    else:
        totals = None
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(ServiceRecord.id.desc()).limit(PER_PAGE)
                                   .offset((page - 1) * PER_PAGE)))
    return render_template("ledger/list.html", rows=rows, total=total, page=page, per_page=PER_PAGE, scope=scope,
                           scopes=scopes, totals=totals, balances=entries.record_balances(r.id for r in rows),
                           names={r.instrument_id: instrument_name(r.instrument) for r in rows})


# ------------------------------------------------------------------------------------------------ a record


def render_record(record: ServiceRecord, status: int = 200, **forms):
    actor = me()
    pending = list(db.session.scalars(select(AdjustmentRequest).where(
        AdjustmentRequest.service_record_id == record.id).order_by(AdjustmentRequest.id)))
    open_dispute = disputes.open_dispute(record.id)
    return render_template(
        "ledger/detail.html", record=record, instrument=instrument_name(record.instrument),
        balance=entries.balance(record.id), requests=pending, rating=ratings.rating_of(record.id),
        ledger=list(db.session.scalars(select(RevenueEntry).where(RevenueEntry.service_record_id == record.id)
                                       .order_by(RevenueEntry.id))),
        disputes=disputes.disputes_of(record.id), open_dispute=open_dispute,
        deadline=disputes.dispute_deadline(record), is_operator=access.may_write(actor, record.unit_id),
        may_dispute=disputes.may_dispute(actor, record) and open_dispute is None
        and now_utc() <= disputes.dispute_deadline(record),
        may_rate=ratings.may_rate(actor, record) and ratings.rating_of(record.id) is None,
        threshold=entries.threshold_fen(),
        entry_form=forms.get("entry_form") or EntryForm(prefix="entry"),
        reject_form=forms.get("reject_form") or ReasonForm(prefix="reject"),
        dispute_form=forms.get("dispute_form") or ReasonForm(prefix="dispute"),
        answer_form=forms.get("answer_form") or AnswerForm(prefix="answer"),
        rating_form=forms.get("rating_form") or RatingForm(prefix="rating")), status


@bp.route("/service-records/<int:service_record_id>")
@login_required
def detail(service_record_id: int):
    return render_record(access.get_readable_record(me(), service_record_id))


def _act(record: ServiceRecord, form, form_name: str, handler, message: str):
    """Validate the form, run the service in one transaction, and come back to the record."""
    if not form.validate_on_submit():
        return render_record(record, 422, **{form_name: form})
    done = run_action(lambda: handler(form), form=form, field_names=FORM_NAMES)
    if done.refused:
        return render_record(record, done.status, **{form_name: form})
    flash(message if isinstance(message, str) else message(done.value), "info")
    return redirect(url_for("ledger.detail", service_record_id=record.id))


def _entry_message(result) -> str:
    if isinstance(result, AdjustmentRequest):
        return _("The adjustment is above the approval threshold: it waits for a second operator of the unit.")
    return _("The entry is added to the ledger.")


@bp.route("/service-records/<int:service_record_id>/entries", methods=["POST"])
@login_required
def add_entry(service_record_id: int):
    record = access.get_readable_record(me(), service_record_id)
    form = EntryForm(prefix="entry")
    return _act(record, form, "entry_form", lambda f: entries.append_entry(
        actor=me(), record=record, kind=f.kind.data, amount_fen=f.amount.data, entry_date=f.entry_date.data,
        direction=f.direction.data or None, invoice_no=f.invoice_no.data, payment_ref=f.payment_ref.data,
        reason=f.reason.data), _entry_message)


@bp.route("/service-records/<int:service_record_id>/dispute", methods=["POST"])
@login_required
def dispute(service_record_id: int):
    record = access.get_readable_record(me(), service_record_id)
    return _act(record, ReasonForm(prefix="dispute"), "dispute_form",
                lambda f: disputes.raise_dispute(actor=me(), record=record, reason=f.reason.data),
                _("Your dispute is sent to the unit."))


@bp.route("/service-records/<int:service_record_id>/dispute/answer", methods=["POST"])
@login_required
def answer(service_record_id: int):
    record = access.get_readable_record(me(), service_record_id)
    return _act(record, AnswerForm(prefix="answer"), "answer_form",
                lambda f: disputes.answer_dispute(actor=me(), record=record, answer=f.answer.data),
                _("The answer is recorded."))


@bp.route("/service-records/<int:service_record_id>/rating", methods=["POST"])
@login_required
def rate(service_record_id: int):
    record = access.get_readable_record(me(), service_record_id)
    return _act(record, RatingForm(prefix="rating"), "rating_form",
                lambda f: ratings.rate(actor=me(), record=record, score=f.score.data, comment=f.comment.data),
                _("Thank you for rating the service."))
