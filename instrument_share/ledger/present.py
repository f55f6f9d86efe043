"""Service records, ledger entries and adjustment requests as the API shows them (times local, with offset)."""

from ..core.clock import local_iso
from . import disputes, entries, ratings
from .models import AdjustmentRequest, RevenueEntry, ServiceDispute, ServiceRecord


def _day(value):
    return value.isoformat() if value else None


def record_json(r: ServiceRecord, *, detail: bool = False) -> dict:
    data = {"id": r.id, "booking_id": r.booking_id, "instrument_id": r.instrument_id, "unit_id": r.unit_id,
            "organization_id": r.organization_id, "mode": r.mode, "actual_start": local_iso(r.actual_start),
            "actual_end": local_iso(r.actual_end), "start_local_date": _day(r.start_local_date),
            "effective_minutes": r.effective_minutes, "samples": r.samples, "external": r.external,
            "fee_fen": r.fee_fen, "fee_basis": r.fee_basis, "result_delivered_on": _day(r.result_delivered_on),
            "operator_id": r.operator_id, "charge_entry_id": entries.charge_entry_id(r.id),
            "created_at": local_iso(r.created_at)}
    if detail:
        rating = ratings.rating_of(r.id)
        data |= {"balance": entries.balance(r.id).as_json(),
                 "dispute_deadline": local_iso(disputes.dispute_deadline(r)),
                 "disputes": [dispute_json(d) for d in disputes.disputes_of(r.id)],
                 "rating": {"score": rating.score, "comment": rating.comment} if rating else None}
    return data


def dispute_json(d: ServiceDispute) -> dict:
    return {"id": d.id, "reason": d.reason, "raised_by_id": d.raised_by_id, "raised_at": local_iso(d.raised_at),
            "answer": d.answer, "answered_by_id": d.answered_by_id, "answered_at": local_iso(d.answered_at)}


def entry_json(e: RevenueEntry) -> dict:
    return {"id": e.id, "object": "revenue_entry", "service_record_id": e.service_record_id, "unit_id": e.unit_id,
            "organization_id": e.organization_id, "kind": e.kind, "direction": e.direction,
            "amount_fen": e.amount_fen, "entry_date": _day(e.entry_date), "invoice_no": e.invoice_no,
            "payment_ref": e.payment_ref, "reason": e.reason, "corrects_id": e.corrects_id,
            "adjustment_request_id": e.adjustment_request_id, "entered_by_id": e.entered_by_id,
            "created_at": local_iso(e.created_at)}


def request_json(a: AdjustmentRequest) -> dict:
    entry = entries.entry_of_request(a) if a.status == "approved" else None
    return {"id": a.id, "object": "adjustment_request", "status": a.status, "service_record_id": a.service_record_id,
            "unit_id": a.unit_id, "kind": "adjustment", "direction": a.direction, "amount_fen": a.amount_fen,
            "entry_date": _day(a.entry_date), "invoice_no": a.invoice_no, "payment_ref": a.payment_ref,
            "reason": a.reason, "requested_by_id": a.requested_by_id, "decided_by_id": a.decided_by_id,
            "decided_at": local_iso(a.decided_at), "decision_reason": a.decision_reason,
            "entry_id": entry.id if entry else None, "created_at": local_iso(a.created_at)}
