"""Booking services: request, confirm, reject, cancel, arrival, no-show correction.

Race-free on both databases: the transaction takes the instrument's lock first (SQLite BEGIN IMMEDIATE; PostgreSQL
SELECT … FOR UPDATE on the instrument row) and checks under it; the database itself refuses an overlapping hold
(PostgreSQL exclusion constraint, SQLite trigger), so even a path that skipped the check could not double-book.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit import chain as audit
from ..catalogue.fields import ServiceMode
from ..catalogue.models import Instrument
from ..catalogue.visibility import can_see, viewer_for
from ..core.clock import local_iso, local_zone, now_utc
from ..core.errors import Conflict, InvalidState, ValidationFailed
from ..core.money import format_fen, round_half_up_to_fen
from ..db import db
from . import access, contracts, violations
from .models import Booking
from .notify import notify, unit_operators
from .rules import Check, RuleBroken, RuleViolation, check_request, conflicts, is_late_cancellation
from .ruleset import load_rules
from .states import CANCEL, CONFIRM, CORRECT_NO_SHOW, HOLDING, REJECT, START, BookingStatus, Transition

TIMED_MODES = (ServiceMode.machine_time.value, ServiceMode.experiment.value)
SAMPLE_MODES = (ServiceMode.sample_testing.value, ServiceMode.statutory_testing.value)


@dataclass
class Request:
    instrument_id: int
    mode: str
    start: datetime | None = None
    end: datetime | None = None
    samples: int | None = None
    wanted_by: date | None = None


def lock_instrument(instrument_id: int) -> Instrument | None:
    return db.session.scalars(select(Instrument).where(Instrument.id == instrument_id).with_for_update()).first()


def holds(instrument_id: int, start: datetime, end: datetime, exclude: int | None = None) -> list[tuple]:
    stmt = select(Booking.hold_start, Booking.hold_end).where(
        Booking.instrument_id == instrument_id, Booking.status.in_(HOLDING), Booking.hold_start.is_not(None),
        Booking.hold_start < end, Booking.hold_end > start)
    if exclude is not None:
        stmt = stmt.where(Booking.id != exclude)
    return [(s, e) for s, e in db.session.execute(stmt)]


def quote(instrument: Instrument, req: Request) -> tuple[int, str]:
    """The price from the published fee standard, rounded half up to the fen once, here."""
    if req.mode in TIMED_MODES:
        minutes = int((req.end - req.start).total_seconds() // 60)
        fee = instrument.fee_per_hour_fen or 0
        # Kept with the contract, which is in Chinese: the published standard and the quantity it was applied to.
        return round_half_up_to_fen(Decimal(fee) * minutes / 60), f"{format_fen(fee)}/小时 × {minutes}分钟"
    fee = instrument.fee_per_sample_fen or 0
    return fee * req.samples, f"{format_fen(fee)}/样 × {req.samples}样"


def _validate_shape(req: Request) -> None:
    if req.mode in TIMED_MODES:
        if req.start is None or req.end is None:
            raise ValidationFailed(_("A time booking needs start and end."),
                                   fields={k: _("required") for k in ("start", "end") if getattr(req, k) is None})
    elif req.mode in SAMPLE_MODES:
        if not isinstance(req.samples, int) or req.samples < 1 or req.samples > 10000:
            raise ValidationFailed(_("Give the number of samples (1–10000)."), fields={"samples": _("1–10000")})
        if req.wanted_by is None:
            raise ValidationFailed(_("Give the date the results are wanted by."), fields={"wanted_by": _("required")})
    else:
        raise ValidationFailed(_("Unknown service mode."), fields={"mode": _("unknown mode")})


def create_booking(*, actor, req: Request) -> Booking:
    """Book under the instrument's lock; the caller's transaction commits."""
    _validate_shape(req)
    instrument = lock_instrument(req.instrument_id)
    if instrument is None or (instrument.is_defence and not can_see(viewer_for(actor), instrument)):
        # An unpublished defence listing does not exist for outsiders (docs/api.md): the same answer as no instrument.
        raise ValidationFailed(_("No such instrument."), fields={"instrument_id": _("not found")})
    access.require_may_book(actor, instrument, req.mode)
    rules, now = load_rules(instrument.id), now_utc()
    hold = None
    if req.mode in TIMED_MODES:
        org_minutes = _org_future_minutes(instrument.id, actor.organization_id, now)
        try:
            check_request(rules, Check(req.start, req.end, now, local_zone(), org_future_minutes=org_minutes))
        except RuleBroken as broken:
            raise RuleViolation(_rule_message(broken.code), code=broken.code, limits=broken.detail) from None
        hold = (req.start, req.end + rules.buffer)
        clashes = conflicts(rules, req.start, req.end, holds(instrument.id, hold[0], hold[1] + rules.buffer))
        if clashes:
            raise Conflict(_("The time overlaps another booking."), code="booking_conflict",
                           conflicts=[{"start": local_iso(s), "end": local_iso(e)} for s, e in clashes])
    elif req.wanted_by < (now.astimezone(local_zone()).date()):
        raise ValidationFailed(_("The wanted-by date is in the past."), fields={"wanted_by": _("in the past")})
    fee, basis = quote(instrument, req)
    booking = Booking(instrument=instrument, unit_id=instrument.owner_id, organization_id=actor.organization_id,
                      user_id=actor.id, mode=req.mode, status=BookingStatus.pending, start_at=req.start, end_at=req.end,
                      hold_start=hold[0] if hold else None, hold_end=hold[1] if hold else None,
                      samples=req.samples if req.mode in SAMPLE_MODES else None,
                      wanted_by=req.wanted_by if req.mode in SAMPLE_MODES else None, quote_fen=fee, quote_basis=basis)
    _insert_or_conflict(booking, hold)
    audit.append("booking.requested", actor=actor, organization_id=actor.organization_id, object_type="booking",
                 object_id=booking.id, details={"instrument_id": instrument.id, "mode": req.mode, "quote_fen": fee})
    contracts.open_contract(booking, actor)
    if not rules.needs_confirmation:
        _confirm(booking, actor=None)
    else:
        notify(unit_operators(instrument.owner_id), "requested", booking,
               _("New booking request no. %(id)d waits for confirmation.", id=booking.id))
    return booking


def _insert_or_conflict(booking: Booking, hold: tuple[datetime, datetime] | None) -> None:
    instrument_id = booking.instrument.id
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before the SAVEPOINT, so a booking
        # added earlier would be inserted outside it and its failure would doom the whole transaction.
        with db.session.begin_nested():
            db.session.add(booking)
            db.session.flush()
    except IntegrityError as exc:
        # The database's own guard (exclusion constraint or trigger) caught an overlap the check did not see. The
        # savepoint (and the refused booking with it) is gone but the transaction lives on: name the holds it
        # clashed with.
        if "booking_conflict" in str(exc.orig) or "exclusion" in str(exc.orig).lower() or \
                getattr(exc.orig, "sqlstate", None) == "23P01":
            clashes = holds(instrument_id, *hold) if hold else []
            raise Conflict(_("The time overlaps another booking."), code="booking_conflict",
                           conflicts=[{"start": local_iso(s), "end": local_iso(e)} for s, e in clashes]) from None
        raise


def _org_future_minutes(instrument_id: int, org_id: int, now: datetime) -> int:
    rows = db.session.execute(select(Booking.start_at, Booking.end_at).where(
        Booking.instrument_id == instrument_id, Booking.organization_id == org_id, Booking.status.in_(HOLDING),
        Booking.end_at > now))
    return sum(int((e - max(s, now)).total_seconds() // 60) for s, e in rows)


def _rule_message(code: str) -> str:
    return {
        "too_short": _("The booking is shorter than the minimum length."),
        "too_long": _("The booking is longer than the maximum length."),
        "not_on_granularity": _("Start and length must follow the instrument's time steps."),
        "notice_too_short": _("The booking starts too soon: the instrument needs more notice."),
        "beyond_horizon": _("The booking is too far ahead."),
        "outside_opening_hours": _("The booking is outside the opening hours."),
        "in_blackout": _("The instrument is unavailable then (holiday or maintenance)."),
        "quota_exceeded": _("Your organisation's quota of future hours on this instrument would be exceeded."),
    }.get(code, _("The booking breaks a rule of the instrument."))


def _confirm(booking: Booking, *, actor) -> None:
    booking.move(CONFIRM)
    booking.decided_at, booking.decided_by_id = now_utc(), getattr(actor, "id", None)
    contracts.confirm_contract(booking, provider=actor)
    audit.append("booking.confirmed", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id, details={"contract_no": booking.contract_no,
                                                "automatic": actor is None})
    notify([booking.user], "confirmed", booking,
           _("Booking no. %(id)d is confirmed (contract %(no)s).", id=booking.id, no=booking.contract_no))


def _relock(booking: Booking) -> None:
    """Re-read the booking under its row lock before deciding on it (PostgreSQL SELECT … FOR UPDATE; SQLite already
    holds the write lock), so two concurrent decisions never both act on the state read before the other's commit:
    a cancel and a confirm racing would otherwise leave a confirmed booking that holds no time.

    Lock order, everywhere in bookings: the instrument row, then the booking row, then the audit chain. Booking
    creation and an instrument becoming unavailable (which rejects the pending bookings after its audit entry)
    take the instrument row first too, so none of them can wait on each other in a cycle."""
    lock_instrument(booking.instrument_id)
    db.session.refresh(booking, with_for_update=True)


def _require_state(booking: Booking, transition: Transition, refusal: str) -> None:
    if not transition.allowed_from(booking.status):
        raise InvalidState(refusal)


def cancellation_is_late(booking: Booking, actor, now: datetime | None = None) -> bool:
    """Whether `actor` cancelling the booking now would count as a late cancellation (a violation)."""
    return is_late_cancellation(load_rules(booking.instrument_id), status=booking.status, start_at=booking.start_at,
                                now=now or now_utc(),
                                by_booking_organisation=access.is_booking_organisation(actor, booking))


def confirm(*, actor, booking: Booking) -> Booking:
    access.require_unit_operator(actor, booking)
    _relock(booking)
    _require_state(booking, CONFIRM, _("Only a pending booking is confirmed."))
    _confirm(booking, actor=actor)
    return booking


def reject(*, actor, booking: Booking, reason: str, automatic: bool = False) -> Booking:
    if not automatic:
        access.require_unit_operator(actor, booking)
        if not (reason or "").strip():
            raise ValidationFailed(_("Give the reason for rejecting."), fields={"reason": _("required")})
    _relock(booking)
    _require_state(booking, REJECT, _("Only a pending booking is rejected."))
    booking.move(REJECT)
    booking.reason, booking.decided_at, booking.decided_by_id = reason.strip(), now_utc(), getattr(actor, "id", None)
    audit.append("booking.auto_rejected" if automatic else "booking.rejected", actor=actor,
                 organization_id=booking.unit_id, object_type="booking", object_id=booking.id,
                 details={"reason": reason})
    notify([booking.user], "auto_rejected" if automatic else "rejected", booking,
           _("Booking no. %(id)d was rejected: %(reason)s", id=booking.id, reason=reason))
    return booking


def cancel(*, actor, booking: Booking, reason: str) -> Booking:
    """The booking organisation's users cancel a pending or confirmed booking; late ones count as violations."""
    access.require_may_cancel(actor, booking)
    _relock(booking)
    _require_state(booking, CANCEL, _("Only a pending or confirmed booking is cancelled."))
    now = now_utc()
    by_user = access.is_booking_organisation(actor, booking)
    late = cancellation_is_late(booking, actor, now)
    booking.move(CANCEL)
    booking.reason, booking.cancelled_at, booking.late_cancellation = (reason or "").strip() or None, now, late
    audit.append("booking.cancelled", actor=actor, organization_id=booking.organization_id, object_type="booking",
                 object_id=booking.id, details={"late": late, "reason": booking.reason})
    others = unit_operators(booking.unit_id) if by_user else [booking.user]
    notify(others, "cancelled", booking, _("Booking no. %(id)d was cancelled.", id=booking.id))
    if late:
        violations.record(booking, kind="late_cancellation")
    return booking


def start(*, actor, booking: Booking) -> Booking:
    access.require_unit_operator(actor, booking)
    _relock(booking)
    _require_state(booking, START, _("Only a confirmed booking starts."))
    booking.move(START)
    booking.started_at = now_utc()
    audit.append("booking.started", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id)
    return booking


def complete_no_show(*, actor, booking: Booking, reason: str) -> Booking:
    """The operator turns a no-show back into in_progress when the service did happen."""
    access.require_unit_operator(actor, booking)
    _relock(booking)
    _require_state(booking, CORRECT_NO_SHOW, _("Only a no-show is corrected."))
    if not (reason or "").strip():
        raise ValidationFailed(_("Say why the no-show is corrected."), fields={"reason": _("required")})
    booking.move(CORRECT_NO_SHOW)
    booking.started_at, booking.reason = now_utc(), reason.strip()
    audit.append("booking.no_show_corrected", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id, details={"reason": reason.strip()})
    db.session.flush()  # the corrected status must count before the block is reconsidered
    violations.reconsider(booking, actor=actor)
    return booking
