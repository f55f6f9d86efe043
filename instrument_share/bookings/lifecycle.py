"""What happens to bookings when their instrument becomes unavailable, and the frequent booking jobs."""

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..audit import chain as audit
from ..catalogue.signals import instrument_unavailable
from ..core.clock import now_utc
from ..db import db
from . import service, violations
from .models import Booking
from .notify import notify, unit_operators
from .ruleset import load_rules
from .states import CANCELLABLE, MARK_NO_SHOW, BookingStatus


@instrument_unavailable.connect
def _on_unavailable(instrument, reason: str) -> None:
    """Pending requests are rejected with the reason; confirmed bookings stay and both sides are told."""
    bookings = db.session.scalars(select(Booking).where(Booking.instrument_id == instrument.id,
                                                        Booking.status.in_(CANCELLABLE))).all()
    for booking in bookings:
        if booking.status == BookingStatus.pending:
            service.reject(actor=None, booking=booking, reason=reason, automatic=True)
        else:
            notify([booking.user, *unit_operators(booking.unit_id)], "instrument_unavailable", booking,
                   _("The instrument of booking no. %(id)d became unavailable: %(reason)s", id=booking.id,
                     reason=reason))


def _each(stmt, act) -> int:
    """Work item by item, each in its own transaction, re-checking the item under the lock (idempotent)."""
    done = 0
    for booking_id in list(db.session.scalars(stmt)):
        with db.transaction():
            # The instrument row first, then the booking row (the lock order of bookings/service.py).
            instrument_id = db.session.scalar(select(Booking.instrument_id).where(Booking.id == booking_id))
            if instrument_id is None:
                continue
            service.lock_instrument(instrument_id)
            booking = db.session.scalars(select(Booking).where(Booking.id == booking_id).with_for_update()
                                         .execution_options(populate_existing=True)).first()
            if booking is not None and act(booking):
                done += 1
    return done


def auto_reject_due() -> int:
    """Reject pending requests the provider left unanswered too long, or whose start is now too near."""
    now = now_utc()
    waited = now - timedelta(hours=current_app.config["AUTO_REJECT_HOURS"])

    def act(booking: Booking) -> bool:
        if booking.status != BookingStatus.pending:
            return False
        notice = timedelta(hours=load_rules(booking.instrument_id).min_notice_hours)
        too_near = booking.start_at is not None and booking.start_at - notice < now
        if not (too_near or booking.created_at <= waited):
            return False
        service.reject(actor=None, booking=booking, automatic=True,
                       reason=_("The provider did not answer in time; the request was rejected automatically."))
        return True

    # Coarse SQL prefilter; the exact rule (per-instrument notice) is applied under the lock.
    horizon = now + timedelta(days=60)
    return _each(select(Booking.id).where(Booking.status == BookingStatus.pending, or_(
        Booking.created_at <= waited, Booking.start_at <= horizon)).order_by(Booking.id), act)


def mark_no_shows() -> int:
    """A confirmed booking not started an hour after its start becomes no_show and counts as a violation."""
    late = now_utc() - timedelta(minutes=current_app.config["NO_SHOW_AFTER_MINUTES"])

    def act(booking: Booking) -> bool:
        if not MARK_NO_SHOW.allowed_from(booking.status) or booking.start_at is None or booking.start_at > late:
            return False
        booking.move(MARK_NO_SHOW)
        audit.append("booking.no_show", organization_id=booking.organization_id, object_type="booking",
                     object_id=booking.id)
        notify([booking.user, *unit_operators(booking.unit_id)], "no_show", booking,
               _("Booking no. %(id)d was marked as a no-show.", id=booking.id))
        violations.record(booking, kind="no_show")
        return True

    return _each(select(Booking.id).where(Booking.status == BookingStatus.confirmed, Booking.start_at <= late)
                 .order_by(Booking.id), act)


def send_reminders() -> int:
    """Remind the user 24 hours before a confirmed booking starts (once)."""
    now = now_utc()
    soon = now + timedelta(hours=24)

    def act(booking: Booking) -> bool:
        if booking.status != BookingStatus.confirmed or booking.reminded_at is not None or \
                not (now < booking.start_at <= soon):
            return False
        booking.reminded_at = now
        notify([booking.user], "reminder", booking,
               _("Reminder: booking no. %(id)d starts within 24 hours.", id=booking.id))
        return True

    return _each(select(Booking.id).where(Booking.status == BookingStatus.confirmed, Booking.reminded_at.is_(None),
                                          Booking.start_at > now, Booking.start_at <= soon).order_by(Booking.id), act)
