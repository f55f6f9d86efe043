"""Service records: one for each service actually given, from a booking or arranged outside the platform.

Making a record computes the fee from the instrument's published standard (rounded half up to the fen once, in
fee_for) and appends its charge to the ledger in the same transaction.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import Organization
from ..audit import chain as audit
from ..bookings.models import Booking
from ..bookings.service import SAMPLE_MODES, TIMED_MODES, lock_instrument
from ..bookings.states import COMPLETE, BookingStatus
from ..catalogue import listing_periods
from ..catalogue.models import Instrument
from ..core.clock import local_today, local_zone, now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..core.money import format_fen, round_half_up_to_fen
from ..db import db
from . import access, entries
from .models import ServiceRecord

MAX_SPAN = timedelta(days=366)
MAX_SAMPLES = 1_000_000
MODES = TIMED_MODES + SAMPLE_MODES


def start_local_date(actual_start: datetime) -> date:
    """The platform-local (Asia/Shanghai) calendar day of the start: a service counts in this day's quarter."""
    return actual_start.astimezone(local_zone()).date()


def fee_for(instrument: Instrument, mode: str, minutes: int, samples: int | None) -> tuple[int, str]:
    """The fee at the published standard and the rule with its numbers (kept on the record, shown to the user).

    Time: fee per hour × minutes / 60, rounded half up to the fen here, once. Samples: fee per sample × samples.
    The basis is stored text in Chinese like the booking quote and the contract it belongs with.
    """
    if mode in TIMED_MODES:
        per_hour = instrument.fee_per_hour_fen or 0
        fee = round_half_up_to_fen(Decimal(per_hour) * minutes / 60)
        return fee, f"{format_fen(per_hour)}/小时 × {minutes}分钟 ÷ 60 = {format_fen(fee)}（四舍五入到分）"
    per_sample = instrument.fee_per_sample_fen or 0
    count = samples or 0
    fee = per_sample * count
    return fee, f"{format_fen(per_sample)}/样 × {count}样 = {format_fen(fee)}"


def _check_times(actual_start, actual_end) -> int:
    problems = {}
    for name, value in (("actual_start", actual_start), ("actual_end", actual_end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            problems[name] = _("ISO 8601 time with offset")
        elif not 2000 <= value.year <= 2199:  # also keeps the time arithmetic below from overflowing
            problems[name] = _("a time between 2000 and 2199")
    if not problems:
        if actual_end < actual_start:
            problems["actual_end"] = _("not before the start")
        elif actual_end - actual_start > MAX_SPAN:
            problems["actual_end"] = _("at most a year after the start")
        elif actual_end > now_utc() + timedelta(minutes=5):
            problems["actual_end"] = _("not in the future")
    if problems:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(problems))), fields=problems)
    return int((actual_end - actual_start).total_seconds() // 60)


def _check_samples(mode: str, samples) -> int | None:
    if samples is None and mode in TIMED_MODES:
        return None
    if isinstance(samples, bool) or not isinstance(samples, int) or not 0 <= samples <= MAX_SAMPLES or \
            (mode in SAMPLE_MODES and samples < 1):
        raise ValidationFailed(_("Give the number of samples processed."),
                               fields={"samples": _("1–%(n)d", n=MAX_SAMPLES) if mode in SAMPLE_MODES
                                       else _("0–%(n)d", n=MAX_SAMPLES)})
    return samples


def _check_delivered(result_delivered_on, actual_start: datetime) -> date | None:
    if result_delivered_on is None:
        return None
    if not isinstance(result_delivered_on, date) or isinstance(result_delivered_on, datetime) or \
            result_delivered_on < start_local_date(actual_start) or result_delivered_on > local_today():
        raise ValidationFailed(_("The result delivery date lies between the service start and today."),
                               fields={"result_delivered_on": _("between the service start and today")})
    return result_delivered_on


def _why_closed(reason: str) -> str:
    return {"not_published": _("it was not published then (a draft, or suspended, revoked or retired)"),
            "approval_not_valid": _("its defence approval was not valid on that day"),
            "not_cleared": _("the defence unit has not cleared the user organisation")}[reason]


def _require_open_listing(instrument: Instrument, organization: Organization, actual_start: datetime,
                          booked: bool) -> None:
    """Measure 19: another organisation's service needs the instrument open through the platform at its start."""
    reason = listing_periods.reason_for(instrument.id, organization.id, actual_start)
    if reason is None:
        return
    start = actual_start.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")
    if booked:
        message = _("The instrument was not open to other organisations through the platform at the service's "
                    "start (%(start)s): %(why)s. This holds for booked services too, even when the listing was open "
                    "when the booking was made.", start=start, why=_why_closed(reason))
    else:
        message = _("The instrument was not open to other organisations through the platform at the service's "
                    "start (%(start)s): %(why)s. Only the unit's own use can be recorded for that time.",
                    start=start, why=_why_closed(reason))
    raise Conflict(message, code="listing_not_open", fields={"actual_start": _why_closed(reason)}, reason=reason)


def _make(*, actor, instrument: Instrument, organization: Organization, mode: str, actual_start, actual_end,
          samples, result_delivered_on, booking: Booking | None) -> ServiceRecord:
    minutes = _check_times(actual_start, actual_end)
    _require_open_listing(instrument, organization, actual_start, booked=booking is not None)
    samples = _check_samples(mode, samples)
    delivered = _check_delivered(result_delivered_on, actual_start)
    fee, basis = fee_for(instrument, mode, minutes, samples)
    if fee > entries.MAX_AMOUNT_FEN:  # a fee standard of up to 10^15 fen times a quantity can pass BIGINT
        quantity = "samples" if mode in SAMPLE_MODES else "actual_end"
        raise ValidationFailed(_("The fee of this service would be above %(max)s: check the fee standard and the "
                                 "quantity.", max=format_fen(entries.MAX_AMOUNT_FEN)),
                               fields={quantity: _("the fee would be above %(max)s",
                                                   max=format_fen(entries.MAX_AMOUNT_FEN))})
    record = ServiceRecord(
        booking_id=booking.id if booking else None, instrument_id=instrument.id, unit_id=instrument.owner_id,
        organization_id=organization.id, mode=mode, actual_start=actual_start, actual_end=actual_end,
        start_local_date=start_local_date(actual_start), effective_minutes=minutes, samples=samples,
        external=organization.id != instrument.owner_id, fee_fen=fee, fee_basis=basis, result_delivered_on=delivered,
        operator_id=actor.id, created_by_id=actor.id, created_at=now_utc())
    db.session.add(record)
    db.session.flush()
    audit.append("service_record.created", actor=actor, organization_id=record.unit_id, object_type="service_record",
                 object_id=record.id, details={"booking_id": record.booking_id, "instrument_id": instrument.id,
                                               "organization_id": organization.id, "mode": mode,
                                               "effective_minutes": minutes, "samples": samples, "fee_fen": fee,
                                               "fee_basis": basis, "external": record.external})
    if fee > 0:
        entries.append_entry(actor=actor, record=record, kind="charge", amount_fen=fee, entry_date=local_today())
    return record


def record_from_booking(*, actor, booking: Booking, actual_start: datetime, actual_end: datetime,
                        samples: int | None = None, result_delivered_on: date | None = None) -> ServiceRecord:
    """Record the service of a booking (in progress, or a confirmed sample order); the booking becomes completed."""
    if not access.may_write(actor, booking.unit_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators record services."))
    instrument = lock_instrument(booking.instrument_id)  # the bookings' lock order: instrument, then booking
    db.session.refresh(booking, with_for_update=True)
    allowed = booking.status == BookingStatus.in_progress or (
        booking.status == BookingStatus.confirmed and booking.mode in SAMPLE_MODES)
    if not allowed:
        raise InvalidState(_("A service is recorded for a booking in progress, or a confirmed sample order."))
    if samples is None and booking.mode in SAMPLE_MODES:
        samples = booking.samples
    record = _make(actor=actor, instrument=instrument, organization=booking.organization, mode=booking.mode,
                   actual_start=actual_start, actual_end=actual_end, samples=samples,
                   result_delivered_on=result_delivered_on, booking=booking)
    booking.move(COMPLETE)  # completed: the rest of the held time is free
    audit.append("booking.completed", actor=actor, organization_id=booking.unit_id, object_type="booking",
                 object_id=booking.id, details={"service_record_id": record.id})
    return record


def record_standalone(*, actor, instrument: Instrument, organization: Organization, mode: str,
                      actual_start: datetime, actual_end: datetime, samples: int | None = None,
                      result_delivered_on: date | None = None) -> ServiceRecord:
    """A service arranged outside the platform, or the unit's own use (then `external` is false)."""
    if not access.may_write(actor, instrument.owner_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators record services."))
    if mode not in MODES:
        raise ValidationFailed(_("Unknown service mode."), fields={"mode": _("unknown mode")})
    if mode not in instrument.modes:
        raise ValidationFailed(_("The instrument does not offer this service mode."),
                               fields={"mode": _("not offered by this instrument")})
    return _make(actor=actor, instrument=instrument, organization=organization, mode=mode, actual_start=actual_start,
                 actual_end=actual_end, samples=samples, result_delivered_on=result_delivered_on, booking=None)


def record_of_booking(booking_id: int) -> ServiceRecord | None:
    return db.session.scalar(select(ServiceRecord).where(ServiceRecord.booking_id == booking_id))
