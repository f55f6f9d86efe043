"""JSON views of policies and claims, in the shape of docs/api.md ("Vouchers"); what a viewer may not see is absent."""

import json

from sqlalchemy import select

from ..core.clock import local_iso
from ..db import db
from .access import sees_signals
from .compute import format_e4
from .models import VoucherApproval, VoucherClaim, VoucherClaimSignal, VoucherEvidence
from .policies import policy_json

__all__ = ["claim_json", "evidence_json", "policy_json"]


def evidence_json(evidence: VoucherEvidence) -> dict:
    return {"id": evidence.id, "filename": evidence.filename, "sha256": evidence.sha256}


def _trace_json(trace: dict) -> dict:
    return {"raw_fen": trace.get("raw_fen", 0), "caps": trace.get("caps", []),
            "min_claim_fen": trace.get("min_claim_fen", 0), "submittable": trace.get("submittable", False)}


def claim_json(claim: VoucherClaim, viewer) -> dict:
    commission = sees_signals(viewer)
    trace = json.loads(claim.trace or "{}")
    data = {
        "id": claim.id, "organization_id": claim.organization_id, "policy_id": claim.policy_id, "year": claim.year,
        "status": claim.status,
        "lines": [{"service_record_id": ln.service_record_id, "ledger_entry_ids": json.loads(ln.ledger_entry_ids),
                   "eligible_fen": ln.eligible_fen, "rate_bp": ln.rate_bp,
                   "line_subsidy": format_e4(ln.line_subsidy_e4)} for ln in claim.lines if ln.reason is None],
        "ineligible": [{"service_record_id": ln.service_record_id, "reason": ln.reason}
                       for ln in claim.lines if ln.reason is not None],
        "trace": _trace_json(trace),
        "subsidy_fen": claim.subsidy_fen,
        "evidence": [evidence_json(e) for e in db.session.scalars(
            select(VoucherEvidence).where(VoucherEvidence.claim_id == claim.id).order_by(VoucherEvidence.id))],
        "contract_nos": json.loads(claim.contract_nos) if claim.contract_nos else [],
        "invoice_nos": json.loads(claim.invoice_nos) if claim.invoice_nos else [],
        "created_at": local_iso(claim.created_at),
        "submitted_at": local_iso(claim.submitted_at),
        "approvals": [{"at": local_iso(a.created_at)} | ({"auditor_id": a.auditor_id} if commission else {})
                      for a in db.session.scalars(select(VoucherApproval).where(VoucherApproval.claim_id == claim.id)
                                                  .order_by(VoucherApproval.id))],
    }
    if claim.reason:
        data["reason"] = claim.reason
    if claim.notice_until is not None:
        data["notice_until"] = local_iso(claim.notice_until)
    if claim.paid_on is not None:
        data |= {"paid_on": claim.paid_on.isoformat(), "payment_ref": claim.payment_ref}
    if claim.clawback_fen is not None:
        data["clawback_fen"] = claim.clawback_fen
    if commission:
        data["signals"] = [{"code": s.code, "detail": _detail(s.detail)} for s in db.session.scalars(
            select(VoucherClaimSignal).where(VoucherClaimSignal.claim_id == claim.id)
            .order_by(VoucherClaimSignal.code))]
    return data


def _detail(text: str) -> dict:
    """Signal details are stored as JSON text; the API gives them as an object."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}
