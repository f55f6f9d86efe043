"""Booking services: request, confirm, reject, cancel, arrival, no-show correction.

Race-free on both databases: the transaction takes the instrument's lock first (SQLite BEGIN IMMEDIATE; PostgreSQL
SELECT … FOR UPDATE on the instrument row) and checks under it; the database itself refuses an overlapping hold
(PostgreSQL exclusion constraint, SQLite trigger), so even a path that skipped the check could not double-book.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.roles import OrgStatus, Role
from ..audit import chain as audit
from ..catalogue import policy
from ..catalogue.fields import ServiceMode, Status
from ..catalogue.listings import is_expired
from ..catalogue.models import Clearance, Instrument
from ..catalogue.visibility import can_see, viewer_for
from ..core.clock import local_iso, local_zone, now_utc
from ..core.errors import Conflict, DomainError, InvalidState, PermissionDenied, ValidationFailed
from ..core.money import format_fen, round_half_up_to_fen
from ..db import db
from . import contracts, violations
from .models import CANCELLABLE, HOLDING, Booking
from .notify import notify, unit_operators
from .rules import Check, RuleBroken, check_request, conflicts
from .ruleset import load_rules

TIMED_MODES = (ServiceMode.machine_time.value, ServiceMode.experiment.value)
SAMPLE_MODES = (ServiceMode.sample_testing.value, ServiceMode.statutory_testing.value)


class RuleViolation(DomainError):
    status = 422


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


def _may_book(actor, instrument: Instrument) -> None:
    org = actor.organization
    if org.status != OrgStatus.verified or not actor.has_role(Role.sme_user, Role.provider_operator):
        raise PermissionDenied(_("Users of verified organisations with a booking role book instruments."))
    if instrument.owner_id == org.id:
        raise PermissionDenied(_("A unit does not book its own instruments here."), code="own_instrument")
    if instrument.status != Status.published or is_expired(instrument):
        raise Conflict(_("The instrument is not available for booking."), code="instrument_unavailable")
    if instrument.is_defence and not db.session.scalar(select(Clearance.id).where(
            Clearance.unit_id == instrument.owner_id, Clearance.organization_id == org.id)):
        raise PermissionDenied(_("Only organisations the defence unit has cleared may book its instruments."),
                               code="not_cleared")
    if violations.blocked_until(org.id, instrument.owner_id):
        raise PermissionDenied(_("Your organisation is blocked from booking this unit's instruments after repeated "
                                 "violations."), code="organization_blocked")


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
        # An unpublished defence listing does not exist for outsiders (api.md): the same answer as no instrument.
        raise ValidationFailed(_("No such instrument."), fields={"instrument_id": _("not found")})
    _may_book(actor, instrument)
    if req.mode not in instrument.modes:
        raise RuleViolation(_("The instrument does not offer this service mode."), code="mode_not_offered")
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
                      user_id=actor.id, mode=req.mode, status="pending", start_at=req.start, end_at=req.end,
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
    booking.status, booking.decided_at, booking.decided_by_id = "confirmed", now_utc(), getattr(actor, "id", None)
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


def require_operator(actor, booking: Booking) -> None:
    if not policy.is_operator_of(actor, booking.unit_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators do this."))


def confirm(*, actor, booking: Booking) -> Booking:
    require_operator(actor, booking)
    _relock(booking)
    if booking.status != "pending":
        raise InvalidState(_("Only a pending booking is confirmed."))
    _confirm(booking, actor=actor)
    return booking


def reject(*, actor, booking: Booking, reason: str, automatic: bool = False) -> Booking:
    if not automatic:
        require_operator(actor, booking)
        if not (reason or "").strip():
            raise ValidationFailed(_("Give the reason for rejecting."), fields={"reason": _("required")})
    _relock(booking)
    if booking.status != "pending":
        raise InvalidState(_("Only a pending booking is rejected."))
    booking.status, booking.reason, booking.decided_at = "rejected", reason.strip(), now_utc()
    booking.decided_by_id, booking.hold_start, booking.hold_end = getattr(actor, "id", None), None, None
    audit.append("booking.auto_rejected" if automatic else "booking.rejected", actor=actor,
                 organization_id=booking.unit_id, object_type="booking", object_id=booking.id,
                 details={"reason": reason})
    notify([booking.user], "auto_rejected" if automatic else "rejected", booking,
           _("Booking no. %(id)d was rejected: %(reason)s", id=booking.id, reason=reason))
    return booking


def cancel(*, actor, booking: Booking, reason: str) -> Booking:
    """The booking organisation's users cancel a pending or confirmed booking; late ones count as violations."""
    if not (actor.organization_id == booking.organization_id or policy.is_operator_of(actor, booking.unit_id)):
        raise PermissionDenied(_("Only the booking organisation or the unit cancels this booking."))
    _relock(booking)
    if booking.status not in CANCELLABLE:
        raise InvalidState(_("Only a pending or confirmed booking is cancelled."))
    now = now_utc()
    by_user = actor.organization_id == booking.organization_id
    late = by_user and booking.status == "confirmed" and booking.start_at is not None and \
        booking.start_at - now < timedelta(hours=load_rules(booking.instrument_id).cancel_notice_hours)
    booking.status, booking.reason, booking.cancelled_at = "cancelled", (reason or "").strip() or None, now
    booking.hold_start = booking.hold_end = None
    booking.late_cancellation = late
    audit.append("booking.cancelled", actor=actor, organization_id=booking.organization_id, object_type="booking",
                 object_id=booking.id, details={"late": late, "reason": booking.reason})
    others = unit_operators(booking.unit_id) if by_user else [booking.user]
    notify(others, "cancelled", booking, _("Booking no. %(id)d was cancelled.", id=booking.id))
    if late:
        violations.record(booking, kind="late_cancellation")
    return booking


def start(*, actor, booking: Booking) -> Booking:
    require_operator(actor, booking)
    _relock(booking)
    if booking.status != "confirmed":
        raise InvalidState(_("Only a confirmed booking starts."))
    booking.status, booking.started_at = "in_progress", now_utc()
    audit.append("booking.started", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id)
    return booking


def complete_no_show(*, actor, booking: Booking, reason: str) -> Booking:
    """The operator turns a no-show back into in_progress when the service did happen."""
    require_operator(actor, booking)
    _relock(booking)
    if booking.status != "no_show":
        raise InvalidState(_("Only a no-show is corrected."))
    if not (reason or "").strip():
        raise ValidationFailed(_("Say why the no-show is corrected."), fields={"reason": _("required")})
    booking.status, booking.started_at, booking.reason = "in_progress", now_utc(), reason.strip()
    audit.append("booking.no_show_corrected", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id, details={"reason": reason.strip()})
    db.session.flush()  # the corrected status must count before the block is reconsidered
    violations.reconsider(booking, actor=actor)
    return booking


def org_bookings_count(org_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Booking).where(Booking.organization_id == org_id))
