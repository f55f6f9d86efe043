"""The append-only revenue ledger: appending entries, adjustment requests and balances.

Entries are never changed: the database refuses UPDATE and DELETE (migration triggers), so a correction is a new
entry with a reason. Every append locks the service record's row first, so two refunds (or two payments) of one
record are decided one after the other against the balance the other left (PostgreSQL SELECT … FOR UPDATE; SQLite
already holds the write lock).
"""

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from ..audit import chain as audit
from ..core.clock import local_today, now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..core.money import format_fen
from ..db import db
from . import access
from .models import (
    ADJUSTMENT_TRANSITIONS,
    DIRECTIONS,
    ENTRY_KINDS,
    AdjustmentRequest,
    AdjustmentStatus,
    Direction,
    EntryKind,
    RevenueEntry,
    ServiceRecord,
)
from .signals import entry_appended

MAX_AMOUNT_FEN = 10**13  # 100 billion yuan: anything larger is a typing mistake, and stays far inside BIGINT
TEXT_LIMITS = {"invoice_no": 64, "payment_ref": 100, "reason": 2000}


@dataclass(frozen=True)
class Balance:
    charged_fen: int = 0
    debit_fen: int = 0
    credit_fen: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0

    @property
    def owed_fen(self) -> int:
        """Charges + debit adjustments − credit adjustments − payments + refunds (may be negative: overpaid)."""
        return self.charged_fen + self.debit_fen - self.credit_fen - self.paid_fen + self.refunded_fen

    @property
    def refundable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    def as_json(self) -> dict:
        return {"charged_fen": self.charged_fen, "debit_fen": self.debit_fen, "credit_fen": self.credit_fen,
                "paid_fen": self.paid_fen, "refunded_fen": self.refunded_fen, "owed_fen": self.owed_fen}


def _sum_of(kind: str, direction: str | None = None):
    condition = RevenueEntry.kind == kind
    if direction is not None:
        condition = condition & (RevenueEntry.direction == direction)
    return func.coalesce(func.sum(case((condition, RevenueEntry.amount_fen), else_=0)), 0)


BALANCE_COLUMNS = (_sum_of(EntryKind.charge), _sum_of(EntryKind.adjustment, Direction.debit),
                   _sum_of(EntryKind.adjustment, Direction.credit), _sum_of(EntryKind.payment),
                   _sum_of(EntryKind.refund))


def _balance(row) -> Balance:
    return Balance(*(int(v or 0) for v in row))


def balance(record_id: int) -> Balance:
    """The record's totals, summed by the database from its entries."""
    return _balance(db.session.execute(select(*BALANCE_COLUMNS).where(
        RevenueEntry.service_record_id == record_id)).one())


def record_balances(record_ids) -> dict[int, Balance]:
    """Balances of many records in one query (list pages)."""
    ids = list(record_ids)
    found = {row[0]: _balance(row[1:]) for row in db.session.execute(
        select(RevenueEntry.service_record_id, *BALANCE_COLUMNS).where(RevenueEntry.service_record_id.in_(ids))
        .group_by(RevenueEntry.service_record_id))} if ids else {}
    return {i: found.get(i, Balance()) for i in ids}


def unit_balance(unit_id: int, *, organization_id: int | None = None) -> Balance:
    """The provider's totals over all its records (optionally with one user organisation)."""
    stmt = select(*BALANCE_COLUMNS).where(RevenueEntry.unit_id == unit_id)
    if organization_id is not None:
        stmt = stmt.where(RevenueEntry.organization_id == organization_id)
    return _balance(db.session.execute(stmt).one())


def organization_balance(organization_id: int, *, unit_id: int | None = None) -> Balance:
    """The user organisation's totals over all its records (optionally with one provider)."""
    stmt = select(*BALANCE_COLUMNS).where(RevenueEntry.organization_id == organization_id)
    if unit_id is not None:
        stmt = stmt.where(RevenueEntry.unit_id == unit_id)
    return _balance(db.session.execute(stmt).one())


def charge_entry_id(record_id: int) -> int | None:
    """The charge appended when the record was made (its first charge), if the service cost anything."""
    return db.session.scalar(select(func.min(RevenueEntry.id)).where(
        RevenueEntry.service_record_id == record_id, RevenueEntry.kind == EntryKind.charge))


def threshold_fen() -> int:
    return int(current_app.config.get("ADJUSTMENT_APPROVAL_THRESHOLD_FEN", 100_000))


# ------------------------------------------------------------------------------------------------ validation


def _clean_text(name: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=name), fields={name: _("text")})
    value = value.strip()
    if len(value) > TEXT_LIMITS[name]:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=name),
                               fields={name: _("at most %(n)d characters", n=TEXT_LIMITS[name])})
    return value or None


def _validate(*, kind, amount_fen, entry_date, direction, reason, corrects_id, record) -> None:
    problems: dict[str, str] = {}
    if kind not in ENTRY_KINDS:
        problems["kind"] = _("one of charge, payment, refund, adjustment")
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        problems["amount_fen"] = _("a whole number of fen greater than 0")
    elif amount_fen > MAX_AMOUNT_FEN:
        problems["amount_fen"] = _("at most %(max)s", max=format_fen(MAX_AMOUNT_FEN))
    if kind == EntryKind.adjustment and direction not in DIRECTIONS:
        problems["direction"] = _("credit or debit")
    elif kind != EntryKind.adjustment and direction is not None:
        problems["direction"] = _("only adjustments have a direction")
    if not isinstance(entry_date, date) or not 2000 <= entry_date.year <= 2199:
        problems["entry_date"] = _("a date like 2026-12-20")
    elif entry_date > local_today():
        problems["entry_date"] = _("not in the future")
    if (kind == EntryKind.adjustment or corrects_id is not None) and not reason:
        problems["reason"] = _("required for adjustments and corrections")
    if corrects_id is not None and not db.session.scalar(select(RevenueEntry.id).where(
            RevenueEntry.id == corrects_id, RevenueEntry.service_record_id == record.id)):
        problems["corrects_id"] = _("not an entry of this service record")
    if problems:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(problems))), fields=problems)


def _invoice_taken(unit_id: int, invoice_no: str | None) -> None:
    if invoice_no and db.session.scalar(select(RevenueEntry.id).where(
            RevenueEntry.unit_id == unit_id, RevenueEntry.invoice_no == invoice_no)):
        _raise_invoice_taken(invoice_no)


def _raise_invoice_taken(invoice_no: str):
    raise Conflict(_("Invoice number %(no)s is already in this unit's ledger.", no=invoice_no),
                   code="duplicate_invoice_no", fields={"invoice_no": _("already used by this unit")})


def lock_record(record: ServiceRecord) -> ServiceRecord:
    db.session.refresh(record, with_for_update=True)
    return record


def _check_payment(record: ServiceRecord, amount_fen: int) -> None:
    """A payment never exceeds what is owed (read under the record's lock, so concurrent payments add up)."""
    owed = max(balance(record.id).owed_fen, 0)
    if amount_fen > owed:
        raise Conflict(_("A payment of %(amount)s is more than what is owed on this service record (%(owed)s).",
                         amount=format_fen(amount_fen), owed=format_fen(owed)),
                       code="payment_exceeds_owed", fields={"amount_fen": _("at most %(owed)s, the amount owed",
                                                                            owed=format_fen(owed))},
                       owed_fen=owed)


# ------------------------------------------------------------------------------------------------ appending


def _append(*, actor, record: ServiceRecord, kind: str, amount_fen: int, entry_date: date, direction=None,
            invoice_no=None, payment_ref=None, reason=None, corrects_id=None, request_id=None) -> RevenueEntry:
    """Insert one entry (already checked), audit it and tell the listeners."""
    entry = RevenueEntry(service_record_id=record.id, unit_id=record.unit_id, organization_id=record.organization_id,
                         kind=kind, direction=direction, amount_fen=amount_fen, entry_date=entry_date,
                         invoice_no=invoice_no, payment_ref=payment_ref, reason=reason, corrects_id=corrects_id,
                         adjustment_request_id=request_id, entered_by_id=actor.id, created_at=now_utc())
    try:
        with db.session.begin_nested():  # a concurrent duplicate invoice number loses here, not the transaction
            db.session.add(entry)
            db.session.flush()
    except IntegrityError as exc:
        if invoice_no and "invoice" in str(exc.orig).lower():
            _raise_invoice_taken(invoice_no)
        raise
    audit.append("revenue.entry_appended", actor=actor, organization_id=record.unit_id, object_type="revenue_entry",
                 object_id=entry.id, details={"service_record_id": record.id, "kind": kind, "direction": direction,
                                              "amount_fen": amount_fen, "entry_date": entry_date.isoformat(),
                                              "invoice_no": invoice_no, "corrects_id": corrects_id,
                                              "adjustment_request_id": request_id})
    entry_appended.send(entry)
    return entry


def append_entry(*, actor, record: ServiceRecord, kind: str, amount_fen: int, entry_date: date,
                 direction: str | None = None, invoice_no: str | None = None, payment_ref: str | None = None,
                 reason: str | None = None, corrects_id: int | None = None) -> RevenueEntry | AdjustmentRequest:
    """Append an entry to the record's ledger; an adjustment above the threshold becomes a request instead."""
    if not access.may_write(actor, record.unit_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators enter revenue."))
    invoice_no, payment_ref = _clean_text("invoice_no", invoice_no), _clean_text("payment_ref", payment_ref)
    reason = _clean_text("reason", reason)
    _validate(kind=kind, amount_fen=amount_fen, entry_date=entry_date, direction=direction, reason=reason,
              corrects_id=corrects_id, record=record)
    lock_record(record)
    _invoice_taken(record.unit_id, invoice_no)
    if kind == EntryKind.refund:
        refundable = balance(record.id).refundable_fen
        if amount_fen > refundable:
            raise Conflict(_("A refund of %(amount)d fen exceeds the payments received for this service less earlier "
                             "refunds (%(left)d fen).", amount=amount_fen, left=refundable),
                           code="refund_exceeds_payments", fields={"amount_fen": _("at most %(n)d", n=refundable)},
                           refundable_fen=refundable)
    if kind == EntryKind.payment:
        _check_payment(record, amount_fen)
    if kind == EntryKind.adjustment and amount_fen > threshold_fen():
        if corrects_id is not None:
            reason = f"{reason} (#{corrects_id})"
        request = AdjustmentRequest(service_record_id=record.id, unit_id=record.unit_id, direction=direction,
                                    amount_fen=amount_fen, entry_date=entry_date, invoice_no=invoice_no,
                                    payment_ref=payment_ref, reason=reason,
                                    status=AdjustmentStatus.pending_approval.value, requested_by_id=actor.id,
                                    created_at=now_utc())
        db.session.add(request)
        db.session.flush()
        audit.append("revenue.adjustment_requested", actor=actor, organization_id=record.unit_id,
                     object_type="adjustment_request", object_id=request.id,
                     details={"service_record_id": record.id, "direction": direction, "amount_fen": amount_fen,
                              "threshold_fen": threshold_fen()})
        return request
    return _append(actor=actor, record=record, kind=kind, amount_fen=amount_fen, entry_date=entry_date,
                   direction=direction, invoice_no=invoice_no, payment_ref=payment_ref, reason=reason,
                   corrects_id=corrects_id)


def _decidable(actor, request: AdjustmentRequest) -> None:
    if not access.may_write(actor, request.unit_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators decide adjustment requests."))
    db.session.refresh(request, with_for_update=True)
    if not ADJUSTMENT_TRANSITIONS.get(request.status):  # a decided request goes nowhere
        raise InvalidState(_("The adjustment request has already been decided."))


def approve_adjustment(*, actor, request: AdjustmentRequest) -> AdjustmentRequest:
    """A second operator of the unit approves: only now does the adjustment reach the ledger."""
    _decidable(actor, request)
    if actor.id == request.requested_by_id:
        raise Conflict(_("A different operator of the unit must approve this adjustment."),
                       code="second_operator_required")
    record = lock_record(request.service_record)
    _invoice_taken(record.unit_id, request.invoice_no)
    request.status, request.decided_by_id, request.decided_at = AdjustmentStatus.approved.value, actor.id, now_utc()
    audit.append("revenue.adjustment_approved", actor=actor, organization_id=request.unit_id,
                 object_type="adjustment_request", object_id=request.id,
                 details={"service_record_id": record.id, "amount_fen": request.amount_fen})
    _append(actor=actor, record=record, kind=EntryKind.adjustment.value, amount_fen=request.amount_fen,
            entry_date=request.entry_date, direction=request.direction, invoice_no=request.invoice_no,
            payment_ref=request.payment_ref, reason=request.reason, request_id=request.id)
    return request


def reject_adjustment(*, actor, request: AdjustmentRequest, reason: str) -> AdjustmentRequest:
    """Any operator of the unit (the requester too, withdrawing it) rejects; nothing reaches the ledger."""
    reason = _clean_text("reason", reason)
    if not reason:
        raise ValidationFailed(_("Give the reason for rejecting."), fields={"reason": _("required")})
    _decidable(actor, request)
    request.status, request.decided_by_id, request.decided_at = AdjustmentStatus.rejected.value, actor.id, now_utc()
    request.decision_reason = reason
    audit.append("revenue.adjustment_rejected", actor=actor, organization_id=request.unit_id,
                 object_type="adjustment_request", object_id=request.id, details={"reason": reason})
    return request


def entry_of_request(request: AdjustmentRequest) -> RevenueEntry | None:
    return db.session.scalar(select(RevenueEntry).where(RevenueEntry.adjustment_request_id == request.id))
