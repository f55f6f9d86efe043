"""Demo innovation vouchers: this year's policy and claims of the demo SMEs in several states.

Built on the ledger demo data and through the voucher services (policy, draft, evidence, submit, review, approve,
return, reject), so traces, reservations, signals and audit entries are what real use would write.
"""

import json
from datetime import date

from sqlalchemy import select

from .accounts.models import Organization, User
from .core.clock import local_today
from .db import db
from .ledger.models import ServiceRecord
from .vouchers import claims, policies, workflow
from .vouchers.models import VoucherPolicy

# claimant, number of services, what happens after drafting
PLAN = [
    ("sme_chip", 3, "approved"),
    ("sme_chip", 2, "under_review"),
    ("sme_bio", 2, "submitted"),
    ("sme_bio", 1, "returned"),
    ("sme_bio", 1, "rejected"),
    ("sme_chip", 1, "draft"),
]


class _Proof:
    """A payment proof as the evidence upload reads it."""

    def __init__(self, claim_no: int):
        self.filename, self.mimetype = f"付款凭证-{claim_no}.pdf", "application/pdf"
        self._data = f"%PDF-1.4\n% demo payment proof {claim_no}\n".encode()

    def read(self) -> bytes:
        return self._data


def _policy(officer: User, year: int) -> VoucherPolicy:
    return policies.newest_version(year) or policies.create_policy(actor=officer, data={
        "year": year, "valid_from": date(year, 1, 1), "valid_to": date(year, 12, 31),
        "budget_fen": 5_000_000_000, "provider_region_prefixes": ["3201", "32"]})


def _eligible_records(org: Organization, policy: VoucherPolicy) -> list[int]:
    ids = list(db.session.scalars(select(ServiceRecord.id).where(ServiceRecord.organization_id == org.id)
                                  .order_by(ServiceRecord.id)))
    return [ln.service_record_id for ln in claims.eligible_lines(org, policy, ids) if ln.reason is None] if ids else []


def _advance(claim, outcome: str, users: dict[str, User], contract_no: str) -> None:
    if outcome == "draft":
        return
    claimant = db.session.get(User, claim.created_by_id)
    claims.add_evidence(actor=claimant, claim=claim, file=_Proof(claim.id))
    claims.submit(actor=claimant, claim=claim, contract_nos=[contract_no], invoice_nos=[f"DEMO-FP-{claim.id:04d}"])
    if outcome == "submitted":
        return
    auditor = users["auditor1"] if outcome in ("approved", "under_review") else users["auditor2"]
    workflow.review(actor=auditor, claim=claim)
    if outcome == "approved":
        workflow.approve(actor=auditor, claim=claim)
    elif outcome == "returned":
        workflow.return_claim(actor=auditor, claim=claim, reason="请补充服务合同扫描件及银行回单。")
    elif outcome == "rejected":
        workflow.reject(actor=auditor, claim=claim, reason="发票抬头与申请企业名称不一致。")


def seed_vouchers(orgs: dict[str, Organization], users: dict[str, User]) -> dict[str, int]:
    """Add this year's policy and the demo claims in the caller's transaction; return counts for the audit entry."""
    year = local_today().year
    policy = _policy(users["officer"], year)
    available = {key: _eligible_records(orgs[key], policy) for key in {p[0] for p in PLAN}}
    made: dict[str, int] = {"policies": 1}
    for number, (key, size, outcome) in enumerate(PLAN, start=1):
        records, available[key] = available[key][:size], available[key][size:]
        if not records:
            continue  # early in the year there may be too few paid services
        claim = claims.create_draft(actor=users[key], policy=policy, record_ids=records)
        if not json.loads(claim.trace).get("submittable"):
            continue  # nothing left under a cap: it stays a draft
        _advance(claim, outcome, users, f"NJKJ-{year}-{number:03d}")
        made[outcome] = made.get(outcome, 0) + 1
    return made
