"""Fraud signals shown to auditors, computed from the claim and the ledger and kept as rows to filter by.

They are hints, not refusals: each names what an auditor should look at. `refresh` recomputes every signal but
`refund_after_approval`, which only the clawback sets and which stays once raised.
"""

import json
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, inspect, or_, select

from ..bookings.models import Booking
from ..db import db
from ..ledger.models import RevenueEntry, ServiceRecord
from . import groups
from .models import COMMITTED_STATES, GRANTED_STATES, ClaimStatus, VoucherClaim, VoucherClaimLine, VoucherClaimSignal

SIGNAL_LABELS = {
    "duplicate_invoice": _l("Invoice number also used in another claim or by another provider"),
    "related_provider": _l("Provider related to the enterprise"),
    "payment_outside_year": _l("Payments dated outside the policy year"),
    "zero_effective_hours": _l("Service with zero effective hours"),
    "same_person": _l("Booking, service record and claim entered by the same person"),
    "refund_after_approval": _l("Refund after approval"),
    "near_cap_small_claims": _l("Enterprise close to its cap with many small claims"),
}
SIGNAL_CODES = tuple(SIGNAL_LABELS)
STICKY = ("refund_after_approval",)
NEAR_CAP_BP = 9000  # committed subsidy at or above 90% of the enterprise cap
SMALL_CLAIM_BP = 1000  # a claim below 10% of the enterprise cap is small
MANY_SMALL_CLAIMS = 3


def _list(raw: str | None) -> list[str]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return []
    return [str(v).strip() for v in values if str(v).strip()] if isinstance(values, list) else []


def _records(claim: VoucherClaim) -> list[ServiceRecord]:
    return list(db.session.scalars(select(ServiceRecord).join(
        VoucherClaimLine, VoucherClaimLine.service_record_id == ServiceRecord.id).where(
        VoucherClaimLine.claim_id == claim.id).order_by(ServiceRecord.id)))


def _eligible_record_ids(claim: VoucherClaim) -> list[int]:
    return list(db.session.scalars(select(VoucherClaimLine.service_record_id).where(
        VoucherClaimLine.claim_id == claim.id, VoucherClaimLine.reason.is_(None))))


def duplicate_invoices(claim: VoucherClaim, records: list[ServiceRecord]) -> list[str]:
    """Invoice numbers of this claim listed by another live claim, or carried by entries of different providers."""
    own = set(_list(claim.invoice_nos))
    record_ids = [r.id for r in records]
    if record_ids:
        own |= set(db.session.scalars(select(RevenueEntry.invoice_no).where(
            RevenueEntry.service_record_id.in_(record_ids), RevenueEntry.invoice_no.is_not(None))))
    if not own:
        return []
    found = set()
    others = db.session.scalars(select(VoucherClaim.invoice_nos).where(
        VoucherClaim.id != claim.id, VoucherClaim.status != ClaimStatus.draft, VoucherClaim.invoice_nos.is_not(None)))
    for raw in others:
        found |= own & set(_list(raw))
    units = db.session.execute(select(RevenueEntry.invoice_no).where(RevenueEntry.invoice_no.in_(own)).group_by(
        RevenueEntry.invoice_no).having(func.count(func.distinct(RevenueEntry.unit_id)) > 1))
    found |= {row[0] for row in units}
    return sorted(found)


def related_providers(claim: VoucherClaim, records: list[ServiceRecord]) -> list[int]:
    providers = {r.unit_id for r in records}
    lined = set(db.session.scalars(select(ServiceRecord.unit_id).join(
        VoucherClaimLine, VoucherClaimLine.service_record_id == ServiceRecord.id).where(
        VoucherClaimLine.claim_id == claim.id, VoucherClaimLine.reason == "related_provider")))
    org = claim.organization_id
    related = groups.related_to(org) | (groups.group_of(org) - {org})
    return sorted(lined | (providers & related))


def payments_outside_year(claim: VoucherClaim, record_ids: list[int]) -> list[int]:
    if not record_ids:
        return []
    first, last = date(claim.year, 1, 1), date(claim.year, 12, 31)
    return list(db.session.scalars(select(RevenueEntry.id).where(
        RevenueEntry.service_record_id.in_(record_ids), RevenueEntry.kind == "payment",
        or_(RevenueEntry.entry_date < first, RevenueEntry.entry_date > last)).order_by(RevenueEntry.id)))


def same_person(claim: VoucherClaim, records: list[ServiceRecord]) -> list[int]:
    """Records whose booking (if any), record and claim were all entered by one user."""
    claimant = claim.created_by_id
    found = []
    for record in records:
        booker = db.session.scalar(select(Booking.user_id).where(Booking.id == record.booking_id)) \
            if record.booking_id else record.created_by_id
        if record.created_by_id == claimant and booker == claimant:
            found.append(record.id)
    return found


def refunds_after_approval(claim: VoucherClaim, record_ids: list[int]) -> list[int]:
    if claim.decided_at is None or claim.status not in GRANTED_STATES or not record_ids:
        return []
    return list(db.session.scalars(select(RevenueEntry.id).where(
        RevenueEntry.service_record_id.in_(record_ids), RevenueEntry.kind == "refund",
        RevenueEntry.created_at > claim.decided_at).order_by(RevenueEntry.id)))


def near_cap_small_claims(claim: VoucherClaim) -> dict | None:
    cap = claim.policy.enterprise_annual_cap_fen
    if cap <= 0:
        return None
    amounts = list(db.session.scalars(select(VoucherClaim.subsidy_fen).where(
        VoucherClaim.organization_id == claim.organization_id, VoucherClaim.year == claim.year,
        or_(VoucherClaim.status.in_(COMMITTED_STATES), VoucherClaim.id == claim.id))))
    committed = sum(amounts)
    small = sum(1 for a in amounts if a * 10000 < cap * SMALL_CLAIM_BP)
    if committed * 10000 >= cap * NEAR_CAP_BP and small >= MANY_SMALL_CLAIMS:
        return {"committed_fen": committed, "cap_fen": cap, "small_claims": small}
    return None


def compute(claim: VoucherClaim) -> dict[str, dict]:
    """Every signal the claim raises now, with what raised it."""
    records = _records(claim)
    eligible = _eligible_record_ids(claim)
    raised: dict[str, dict] = {}
    if invoices := duplicate_invoices(claim, records):
        raised["duplicate_invoice"] = {"invoice_nos": invoices}
    if providers := related_providers(claim, records):
        raised["related_provider"] = {"provider_ids": providers}
    if entries := payments_outside_year(claim, eligible):
        raised["payment_outside_year"] = {"entry_ids": entries}
    if zero := [r.id for r in records if r.id in set(eligible) and r.effective_minutes == 0]:
        raised["zero_effective_hours"] = {"service_record_ids": zero}
    if same := same_person(claim, records):
        raised["same_person"] = {"service_record_ids": same}
    if refunds := refunds_after_approval(claim, eligible):
        raised["refund_after_approval"] = {"entry_ids": refunds}
    if near := near_cap_small_claims(claim):
        raised["near_cap_small_claims"] = near
    return raised


def raise_signal(claim_id: int, code: str, detail: dict) -> None:
    row = db.session.get(VoucherClaimSignal, (claim_id, code))
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    if row is None:
        db.session.add(VoucherClaimSignal(claim_id=claim_id, code=code, detail=text))
    else:
        row.detail = text
    db.session.flush()


def refresh(claim: VoucherClaim) -> list[str]:
    """Recompute and store the claim's signals; returns their codes."""
    raised = compute(claim)
    kept = set(db.session.scalars(select(VoucherClaimSignal.code).where(
        VoucherClaimSignal.claim_id == claim.id, VoucherClaimSignal.code.in_(STICKY))))
    db.session.execute(delete(VoucherClaimSignal).where(VoucherClaimSignal.claim_id == claim.id,
                                                        VoucherClaimSignal.code.not_in(STICKY)))
    for code, detail in raised.items():
        raise_signal(claim.id, code, detail)
    return sorted(set(raised) | kept)


def signals_of(claim_id: int) -> list[dict]:
    rows = db.session.scalars(select(VoucherClaimSignal).where(VoucherClaimSignal.claim_id == claim_id).order_by(
        VoucherClaimSignal.code))
    return [{"code": r.code, "detail": json.loads(r.detail or "{}")} for r in rows]


def claims_with_signal(code: str):
    """A condition for `select(VoucherClaim)`: the claim carries the signal (GET /voucher-claims?signal=)."""
    return exists().where(VoucherClaimSignal.claim_id == VoucherClaim.id, VoucherClaimSignal.code == code)


# ---------------------------------------------------------------- computed at every submission, whoever submits

_PENDING = "voucher_signals_pending"


def note_submissions(session, _flush_context) -> None:
    """After a flush: remember claims that just became `submitted` (history still shows the change here)."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, VoucherClaim) and obj.status == ClaimStatus.submitted:
            added = inspect(obj).attrs.status.history.added
            if obj in session.new or ClaimStatus.submitted in added:
                session.info.setdefault(_PENDING, set()).add(obj.id)


def signal_submissions(session) -> None:
    """Before the submitting transaction commits: store the signals of the claims it submitted."""
    pending = session.info.pop(_PENDING, set())
    for claim_id in sorted(pending):
        claim = session.get(VoucherClaim, claim_id)
        if claim is not None and claim.status == ClaimStatus.submitted:
            refresh(claim)
    if pending:
        session.flush()
        session.info.pop(_PENDING, None)


def forget_submissions(session, *_args) -> None:
    session.info.pop(_PENDING, None)

