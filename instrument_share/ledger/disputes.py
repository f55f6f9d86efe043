"""Disputes: the user organisation objects to a service record within DISPUTE_DAYS of it; the operator answers."""

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..db import db
from . import access
from .models import ServiceDispute, ServiceRecord

MAX_TEXT = 2000


def dispute_days() -> int:
    return int(current_app.config.get("DISPUTE_DAYS", 15))


def dispute_deadline(record: ServiceRecord):
    """Disputes run from when the record was made (when the user organisation could first see it)."""
    return record.created_at + timedelta(days=dispute_days())


def disputes_of(record_id: int) -> list[ServiceDispute]:
    return list(db.session.scalars(select(ServiceDispute).where(ServiceDispute.service_record_id == record_id)
                                   .order_by(ServiceDispute.id)))


def open_dispute(record_id: int) -> ServiceDispute | None:
    return db.session.scalar(select(ServiceDispute).where(ServiceDispute.service_record_id == record_id,
                                                          ServiceDispute.answered_at.is_(None)))


def _text(name: str, value) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if not value or len(value) > MAX_TEXT:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=name),
                               fields={name: _("required, at most %(n)d characters", n=MAX_TEXT)})
    return value


def may_dispute(actor, record: ServiceRecord) -> bool:
    return actor is not None and actor.organization_id == record.organization_id and record.external


def raise_dispute(*, actor, record: ServiceRecord, reason: str) -> ServiceDispute:
    if not may_dispute(actor, record):
        raise PermissionDenied(_("Only the organisation that used the service disputes it."))
    reason = _text("reason", reason)
    db.session.refresh(record, with_for_update=True)
    if now_utc() > dispute_deadline(record):
        raise InvalidState(_("The period for disputing this service (%(n)d days) has ended.", n=dispute_days()),
                           code="dispute_period_over")
    if open_dispute(record.id) is not None:
        raise Conflict(_("A dispute of this service is waiting for the unit's answer."), code="dispute_open")
    dispute = ServiceDispute(service_record_id=record.id, raised_by_id=actor.id, reason=reason, raised_at=now_utc())
    db.session.add(dispute)
    db.session.flush()
    audit.append("service_record.disputed", actor=actor, organization_id=record.organization_id,
                 object_type="service_record", object_id=record.id, details={"dispute_id": dispute.id})
    return dispute


def answer_dispute(*, actor, record: ServiceRecord, answer: str) -> ServiceDispute:
    """The unit's operator answers the open dispute of the record."""
    if not access.may_write(actor, record.unit_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators answer disputes."))
    answer = _text("answer", answer)
    db.session.refresh(record, with_for_update=True)
    dispute = open_dispute(record.id)
    if dispute is None:
        raise InvalidState(_("There is no open dispute to answer."))
    dispute.answer, dispute.answered_by_id, dispute.answered_at = answer, actor.id, now_utc()
    audit.append("service_record.dispute_answered", actor=actor, organization_id=record.unit_id,
                 object_type="service_record", object_id=record.id, details={"dispute_id": dispute.id})
    return dispute
