"""Clawback: revenue of an approved or paid claim refunded later.

The claim is recomputed (compute.compute_subsidy) with every refund of its records as of now, from the payments it
used at submission, and with the caps' headroom as it was at submission (saved in submitted_trace), so later claims
of the enterprise or the year cannot change the result. clawback_fen = subsidy_fen − the recomputation (never below 0).
"""

import json

from sqlalchemy import select

from ..accounts.models import User
from ..audit import chain as audit
from ..core.clock import now_utc
from ..db import db
from ..ledger.models import RevenueEntry
from . import compute, fraud_signals
from .models import GRANTED_STATES, VoucherClaim, VoucherClaimLine


def _line_eligible(line: VoucherClaimLine, year: int) -> tuple[int, dict]:
    """The line's eligible amount now: payments used at submission, less every refund, within the amount charged."""
    used = set(json.loads(line.ledger_entry_ids or "[]"))
    entries = list(db.session.scalars(select(RevenueEntry).where(
        RevenueEntry.service_record_id == line.service_record_id).order_by(RevenueEntry.id)))
    paid = sum(e.amount_fen for e in entries if e.kind == "payment" and e.id in used)
    refunded = sum(e.amount_fen for e in entries if e.kind == "refund")
    charged = sum(e.amount_fen for e in entries if e.kind == "charge") + \
        sum(e.amount_fen for e in entries if e.kind == "adjustment" and e.direction == "debit") - \
        sum(e.amount_fen for e in entries if e.kind == "adjustment" and e.direction == "credit")
    eligible = max(0, min(paid - refunded, charged))
    return eligible, {"service_record_id": line.service_record_id, "paid_fen": paid, "refunded_fen": refunded,
                      "charged_fen": charged, "eligible_fen_before": line.eligible_fen, "eligible_fen": eligible,
                      "refund_entry_ids": [e.id for e in entries if e.kind == "refund"]}


def recompute(claim: VoucherClaim) -> dict:
    """The claim's subsidy recomputed now by the submission's computation, with the headroom saved then."""
    saved = json.loads(claim.submitted_trace or claim.trace or "{}")
    inputs, details = [], []
    for line in claim.lines:
        if line.reason is not None:
            continue
        eligible, detail = _line_eligible(line, claim.year)
        inputs.append(compute.LineInput(line.service_record_id, eligible, line.rate_bp,
                                        tuple(json.loads(line.ledger_entry_ids or "[]"))))
        details.append(detail)
    trace = compute.compute_subsidy(inputs, compute.Headroom.from_trace(saved),
                                    compute.PolicyNumbers.of(claim.policy)).to_json()
    recomputed = trace["subsidy_fen"]
    return trace | {"ledger": details, "recomputed_fen": recomputed, "subsidy_fen": claim.subsidy_fen,
                    "clawback_fen": max(0, claim.subsidy_fen - recomputed)}


def flag(claim: VoucherClaim, entry: RevenueEntry | None = None, actor=None) -> VoucherClaim:
    """Record the clawback on the claim (idempotent: every refund so far is counted each time)."""
    trace = recompute(claim)
    trace |= {"computed_at": now_utc().isoformat(), "refund_entry_id": getattr(entry, "id", None)}
    claim.clawback_fen = trace["clawback_fen"]
    claim.clawback_trace = json.dumps(trace, ensure_ascii=False)
    claim.updated_at = now_utc()
    fraud_signals.raise_signal(claim.id, "refund_after_approval",
                               {"entry_ids": sorted({r for line in trace["ledger"] for r in line["refund_entry_ids"]})})
    audit.append("voucher.claim_clawback", actor=actor, organization_id=claim.organization_id,
                 object_type="voucher_claim", object_id=claim.id,
                 details={"status": claim.status, "subsidy_fen": claim.subsidy_fen,
                          "clawback_fen": claim.clawback_fen, "trace": trace})
    return claim


def claims_touched_by(entry: RevenueEntry) -> list[VoucherClaim]:
    return list(db.session.scalars(select(VoucherClaim).join(
        VoucherClaimLine, VoucherClaimLine.claim_id == VoucherClaim.id).where(
        VoucherClaimLine.service_record_id == entry.service_record_id, VoucherClaimLine.reason.is_(None),
        VoucherClaim.status.in_(GRANTED_STATES)).order_by(VoucherClaim.id)))


def on_entry_appended(entry: RevenueEntry, **_extra) -> None:
    """Inside the ledger's transaction: a refund touching an approved or paid claim flags it."""
    if entry.kind != "refund":
        return
    claims = claims_touched_by(entry)
    if not claims:
        return
    actor = db.session.get(User, entry.entered_by_id) if entry.entered_by_id else None
    for claim in claims:
        flag(claim, entry, actor)

