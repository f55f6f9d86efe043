"""No-shows and late cancellations; more than the allowed number in 12 months blocks the organisation."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..db import db
from .models import Booking, OrganizationBlock
from .states import BookingStatus


def blocked_until(organization_id: int, unit_id: int) -> datetime | None:
    return db.session.scalar(select(func.max(OrganizationBlock.until)).where(
        OrganizationBlock.organization_id == organization_id, OrganizationBlock.unit_id == unit_id,
        OrganizationBlock.until > now_utc()))


def count_recent(organization_id: int, unit_id: int) -> int:
    since = now_utc() - timedelta(days=365)
    return db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.organization_id == organization_id, Booking.unit_id == unit_id,
        or_(Booking.status == BookingStatus.no_show, Booking.late_cancellation.is_(True)),
        func.coalesce(Booking.cancelled_at, Booking.start_at) >= since))


def record(booking: Booking, *, kind: str) -> OrganizationBlock | None:
    """Audit the violation and block the organisation when it has more than the allowed number."""
    count = count_recent(booking.organization_id, booking.unit_id)
    audit.append(f"violation.{kind}", organization_id=booking.organization_id, object_type="booking",
                 object_id=booking.id, details={"unit_id": booking.unit_id, "violations_12_months": count})
    if count <= current_app.config["VIOLATIONS_ALLOWED"] or blocked_until(booking.organization_id, booking.unit_id):
        return None
    block = OrganizationBlock(organization_id=booking.organization_id, unit_id=booking.unit_id, violations=count,
                              until=now_utc() + timedelta(days=current_app.config["VIOLATION_BLOCK_DAYS"]))
    db.session.add(block)
    db.session.flush()
    audit.append("organization.blocked", organization_id=booking.organization_id, object_type="organization",
                 object_id=booking.organization_id, details={"unit_id": booking.unit_id, "violations": count,
                                                             "until": block.until.isoformat()})
    return block


def reconsider(booking: Booking, *, actor) -> int:
    """After a no-show is corrected, lift the unit's active block when the violations no longer exceed the limit.

    Returns how many blocks were ended (their end set to now, so the history stays).
    """
    count = count_recent(booking.organization_id, booking.unit_id)
    if count > current_app.config["VIOLATIONS_ALLOWED"]:
        return 0
    now = now_utc()
    active = list(db.session.scalars(select(OrganizationBlock).where(
        OrganizationBlock.organization_id == booking.organization_id, OrganizationBlock.unit_id == booking.unit_id,
        OrganizationBlock.until > now)))
    for block in active:
        block.until = now
        audit.append("organization.unblocked", actor=actor, organization_id=booking.organization_id,
                     object_type="organization", object_id=booking.organization_id,
                     details={"unit_id": booking.unit_id, "violations": count, "block_id": block.id,
                              "corrected_booking_id": booking.id})
    return len(active)
