"""Voucher claims: eligible lines from the ledger, committed totals, drafts, evidence and submission with reservation.

Submission (and H4's approval) of one year's claims is serialised by lock_year, so the committed totals read while
computing a claim cannot change before the claim's own reservation is committed: no cap nor the budget can be
overrun by concurrent submissions.
"""

import json
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..accounts.access import is_commission
from ..accounts.models import Organization
from ..accounts.roles import OrgKind, Role
from ..audit import chain as audit
from ..catalogue import listing_periods
from ..core.clock import local_today, now_utc
from ..core.errors import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from ..db import MAX_ID, db
from ..files.store import store
from ..ledger.models import RevenueEntry, ServiceRecord
from . import eligibility, groups, policies, year_totals
from .compute import (
    Entry,
    Headroom,
    LineInput,
    PolicyNumbers,
    Trace,
    compute_subsidy,
    eligible_amount,
    line_reason,
)
from .models import (
    COMMITTED_STATES,
    VoucherClaim,
    VoucherClaimedRecord,
    VoucherClaimLine,
    VoucherEvidence,
    VoucherPolicy,
)

YEAR_LOCK_BASE = 0x564F5543 << 16  # "VOUC": advisory lock keys of the voucher years (key = base + year)
EDITABLE_STATES = ("draft", "returned")
MAX_LINES = 500


@dataclass(frozen=True)
class Line:
    """One requested service record: eligible (reason None) with its amount and rate, or the first failed check."""

    service_record_id: int
    reason: str | None
    eligible_fen: int = 0
    rate_bp: int = 0
    ledger_entry_ids: tuple[int, ...] = ()


def lock_year(year: int) -> None:
    """Serialise every submission and approval of one policy year, inside the caller's write transaction.

    SQLite: db.transaction() began with BEGIN IMMEDIATE, so the write lock is already held; PostgreSQL: a
    transaction-scoped advisory lock keyed by the year (all versions of a year share it).
    """
    if db.dialect == "sqlite" and not db.session.connection().get_execution_options().get("write"):
        raise RuntimeError("lock_year() must run inside db.transaction()")
    db.lock(YEAR_LOCK_BASE + int(year))


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def committed(year: int, org_ids=None, exclude_claim_id: int | None = None) -> int:
    """Subsidy of the year's claims that hold a reservation (submitted, under review, returned, approved, paid)."""
    base = select(func.coalesce(func.sum(VoucherClaim.subsidy_fen), 0)).where(
        VoucherClaim.year == year, VoucherClaim.status.in_(COMMITTED_STATES))
    if org_ids is None:
        # The year's total is maintained (year_totals.py): one row, not a scan of every claim of the year.
        total = year_totals.committed_in_year(year)
        if exclude_claim_id is not None:
            total -= int(db.session.scalar(base.where(VoucherClaim.id == exclude_claim_id)))
        return total
    if exclude_claim_id is not None:
        base = base.where(VoucherClaim.id != exclude_claim_id)
    return sum(int(db.session.scalar(base.where(VoucherClaim.organization_id.in_(chunk))))
               for chunk in _chunks(sorted(set(org_ids))))


def headroom(org: Organization, policy: VoucherPolicy, exclude_claim_id: int | None = None) -> Headroom:
    numbers = PolicyNumbers.of(policy)
    group_committed = None
    if policy.group_annual_cap_fen is not None:
        group_committed = committed(policy.year, groups.group_of(org.id), exclude_claim_id)
    return Headroom.from_committed(numbers, enterprise_committed_fen=committed(policy.year, {org.id}, exclude_claim_id),
                                   group_committed_fen=group_committed,
                                   year_committed_fen=committed(policy.year, None, exclude_claim_id))


def _clean_ids(record_ids) -> list[int]:
    if (not isinstance(record_ids, list | tuple) or not record_ids or len(record_ids) > MAX_LINES
            or any(not isinstance(i, int) or isinstance(i, bool) or not 1 <= i <= MAX_ID for i in record_ids)):
        raise ValidationFailed(_("service_record_ids lists 1 to %(n)d service record ids.", n=MAX_LINES),
                               fields={"service_record_ids": _("1 to %(n)d ids", n=MAX_LINES)})
    return sorted(set(record_ids))


def _claimed_elsewhere(ids: list[int], exclude_claim_id: int | None) -> set[int]:
    """Records already in another live claim: a reserved line, or a lock taken at submission."""
    found: set[int] = set()
    for chunk in _chunks(ids):
        lines = select(VoucherClaimLine.service_record_id).join(VoucherClaim).where(
            VoucherClaimLine.service_record_id.in_(chunk), VoucherClaimLine.reason.is_(None),
            VoucherClaim.status.in_(COMMITTED_STATES))
        locks = select(VoucherClaimedRecord.service_record_id).where(VoucherClaimedRecord.service_record_id.in_(chunk))
        if exclude_claim_id is not None:
            lines = lines.where(VoucherClaim.id != exclude_claim_id)
            locks = locks.where(VoucherClaimedRecord.claim_id != exclude_claim_id)
        found.update(db.session.scalars(lines))
        found.update(db.session.scalars(locks))
    return found


def _entries(ids: list[int]) -> dict[int, list[Entry]]:
    by_record: dict[int, list[Entry]] = {}
    for chunk in _chunks(ids):
        rows = db.session.execute(select(RevenueEntry.id, RevenueEntry.service_record_id, RevenueEntry.kind,
                                         RevenueEntry.direction, RevenueEntry.amount_fen, RevenueEntry.entry_date)
                                  .where(RevenueEntry.service_record_id.in_(chunk)).order_by(RevenueEntry.id))
        for entry_id, record_id, kind, direction, amount, day in rows:
            by_record.setdefault(record_id, []).append(Entry(entry_id, kind, direction, amount, day.year))
    return by_record


def eligible_lines(org: Organization, policy: VoucherPolicy, record_ids, exclude_claim_id: int | None = None
                   ) -> list[Line]:
    """Check every requested record of the enterprise; a record that is not its own, or unknown, is refused."""
    ids = _clean_ids(record_ids)
    records: dict[int, tuple] = {}
    for chunk in _chunks(ids):
        rows = db.session.execute(
            select(ServiceRecord.id, ServiceRecord.organization_id, ServiceRecord.unit_id, ServiceRecord.mode,
                   Organization.region_code, Organization.kind, ServiceRecord.instrument_id,
                   ServiceRecord.actual_start)
            .join(Organization, Organization.id == ServiceRecord.unit_id).where(ServiceRecord.id.in_(chunk)))
        records.update({row[0]: row for row in rows})
    foreign = [i for i in ids if i not in records or records[i][1] != org.id]
    if foreign:
        raise ValidationFailed(_("These service records are unknown or not your organisation's: %(ids)s.",
                                 ids=", ".join(map(str, foreign))),
                               fields={"service_record_ids": _("unknown or not yours: %(ids)s",
                                                               ids=", ".join(map(str, foreign)))})
    modes = set(policies.split(policy.eligible_modes))
    prefixes = tuple(policies.split(policy.provider_region_prefixes))
    related = groups.related_to(org.id) | groups.group_of(org.id)
    entries = _entries(ids)
    claimed = _claimed_elsewhere(ids, exclude_claim_id)
    listing = dict(zip(ids, listing_periods.facts_at(
        [listing_periods.Service(records[i][6], org.id, records[i][7]) for i in ids]), strict=True))
    lines = []
    for record_id in ids:
        _id, _org, unit_id, mode, region, unit_kind, _instrument, _start = records[record_id]
        amount, used = eligible_amount(entries.get(record_id, ()), policy.year)
        reason = line_reason(listing_open=listing_periods.closed_reason(listing[record_id]) is None,
                             mode_eligible=mode in modes, provider_in_region=(region or "").startswith(prefixes),
                             provider_related=unit_id in related, eligible_fen=amount,
                             claimed_elsewhere=record_id in claimed)
        if reason is None:
            rate = policy.defence_rate_bp if unit_kind == OrgKind.defence_unit else policy.rate_bp
            lines.append(Line(record_id, None, amount, rate, used))
        else:
            lines.append(Line(record_id, reason))
    return lines


def compute(org: Organization, policy: VoucherPolicy, record_ids, exclude_claim_id: int | None = None
            ) -> tuple[list[Line], Trace]:
    lines = eligible_lines(org, policy, record_ids, exclude_claim_id)
    trace = compute_subsidy([LineInput(ln.service_record_id, ln.eligible_fen, ln.rate_bp, ln.ledger_entry_ids)
                             for ln in lines if ln.reason is None],
                            headroom(org, policy, exclude_claim_id), PolicyNumbers.of(policy),
                            [(ln.service_record_id, ln.reason) for ln in lines if ln.reason is not None])
    return lines, trace


def _store(claim: VoucherClaim, lines: list[Line], trace: Trace, *, new: bool = False) -> None:
    """Replace the claim's lines and totals; the lines go in as one multi-row insert (a claim may have hundreds)."""
    if not new:
        db.session.execute(delete(VoucherClaimLine).where(VoucherClaimLine.claim_id == claim.id))
    exact = {ln.service_record_id: ln.line_subsidy_e4 for ln in trace.lines}
    db.session.execute(insert(VoucherClaimLine), [
        {"claim_id": claim.id, "service_record_id": ln.service_record_id, "reason": ln.reason,
         "eligible_fen": ln.eligible_fen, "rate_bp": ln.rate_bp, "line_subsidy_e4": exact.get(ln.service_record_id, 0),
         "ledger_entry_ids": json.dumps(list(ln.ledger_entry_ids))} for ln in lines])
    db.session.expire(claim, ["lines"])
    if not new:  # a new claim was inserted with its totals
        claim.raw_fen, claim.subsidy_fen = trace.raw_fen, trace.subsidy_fen
        claim.trace = json.dumps(trace.to_json())
        claim.updated_at = now_utc()
        db.session.flush()


def _require_claimant(actor, claim: VoucherClaim | None = None) -> None:
    if actor is None or not actor.has_role(Role.sme_user):
        raise PermissionDenied(_("Only an SME user of the claiming enterprise handles its claims."))
    if claim is not None and claim.organization_id != actor.organization_id:
        raise PermissionDenied(_("Only an SME user of the claiming enterprise handles its claims."))


def visible_claims(viewer):
    """Claims the viewer may read: its organisation's; every claim for the commission roles."""
    stmt = select(VoucherClaim)
    if is_commission(viewer):
        return stmt
    return stmt.where(VoucherClaim.organization_id == viewer.organization_id)


def load_claim(claim_id: int, viewer) -> VoucherClaim:
    claim = db.session.scalar(visible_claims(viewer).where(VoucherClaim.id == claim_id))
    if claim is None:
        raise NotFound(_("No such voucher claim."))
    return claim


def create_draft(*, actor, policy: VoucherPolicy, record_ids) -> VoucherClaim:
    """A draft claim of the actor's enterprise, computed at once (the caller owns the transaction)."""
    _require_claimant(actor)
    if policy is None:
        raise ValidationFailed(_("No such voucher policy."), fields={"policy_id": _("not found")})
    if not policies.is_open(policy, local_today()):
        raise Conflict(_("This policy does not accept new claims (outside its dates, or superseded)."),
                       code="policy_not_open")
    org = db.session.get(Organization, actor.organization_id)
    lines, trace = compute(org, policy, record_ids)
    claim = VoucherClaim(organization_id=org.id, policy_id=policy.id, year=policy.year, status="draft",
                         raw_fen=trace.raw_fen, subsidy_fen=trace.subsidy_fen, trace=json.dumps(trace.to_json()),
                         created_by_id=actor.id)
    db.session.add(claim)
    db.session.flush()
    _store(claim, lines, trace, new=True)
    audit.append("voucher.claim_created", actor=actor, organization_id=org.id, object_type="voucher_claim",
                 object_id=claim.id, details={"policy_id": policy.id, "trace": trace.to_json()})
    return claim


def _lock_records(claim: VoucherClaim) -> None:
    """Tie the claim's eligible records to it; the primary key refuses a record already in another live claim."""
    db.session.execute(delete(VoucherClaimedRecord).where(VoucherClaimedRecord.claim_id == claim.id))
    try:
        with db.session.begin_nested():
            for line in claim.lines:
                if line.reason is None:
                    db.session.add(VoucherClaimedRecord(service_record_id=line.service_record_id, claim_id=claim.id))
            db.session.flush()
    except IntegrityError as exc:  # a claim of another year took the record meanwhile
        raise Conflict(_("A service record of this claim is already in another claim."),
                       code="already_claimed") from exc


def _fresh(claim: VoucherClaim) -> Organization:
    """Re-read the claim and its enterprise after the year's lock: what was read before waiting may be stale."""
    db.session.refresh(claim)
    org = db.session.get(Organization, claim.organization_id)
    db.session.refresh(org)
    return org


def update_lines(*, actor, claim: VoucherClaim, record_ids) -> VoucherClaim:
    """Change the service records of a draft or returned claim and recompute it."""
    _require_claimant(actor, claim)
    lock_year(claim.year)  # a returned claim holds a reservation: its new amount must fit what is left
    org = _fresh(claim)
    if claim.status not in EDITABLE_STATES:
        raise InvalidState(_("Only a draft or returned claim can be changed."))
    lines, trace = compute(org, claim.policy, record_ids, claim.id)
    _store(claim, lines, trace)
    if claim.status == "returned":
        _lock_records(claim)
    audit.append("voucher.claim_changed", actor=actor, organization_id=org.id, object_type="voucher_claim",
                 object_id=claim.id, details={"status": claim.status, "trace": trace.to_json()})
    return claim


def add_evidence(*, actor, claim: VoucherClaim, file) -> VoucherEvidence:
    """Keep a payment proof or contract with its SHA-256 (file: an uploaded file with filename, read(), mimetype)."""
    _require_claimant(actor, claim)
    if claim.status not in EDITABLE_STATES:
        raise InvalidState(_("Evidence is added to a draft or returned claim."))
    filename = getattr(file, "filename", None) or "evidence"
    stored = store(file.read(), filename, purpose="voucher_evidence", content_type=getattr(file, "mimetype", None),
                   organization_id=claim.organization_id, created_by_id=actor.id)
    evidence = VoucherEvidence(claim_id=claim.id, file_id=stored.id, filename=stored.filename, sha256=stored.sha256,
                               uploaded_by_id=actor.id)
    db.session.add(evidence)
    db.session.flush()
    audit.append("voucher.evidence_added", actor=actor, organization_id=claim.organization_id,
                 object_type="voucher_claim", object_id=claim.id,
                 details={"evidence_id": evidence.id, "filename": evidence.filename, "sha256": evidence.sha256})
    return evidence


def _numbers(values, name: str) -> list[str]:
    if values is None:
        return []
    if (not isinstance(values, list | tuple) or len(values) > MAX_LINES
            or any(not isinstance(v, str) or not v.strip() or len(v) > 64 for v in values)):
        raise ValidationFailed(_("%(name)s lists numbers of at most 64 characters.", name=name),
                               fields={name: _("a list of non-empty texts of at most 64 characters")})
    return [v.strip() for v in values]


def submit(*, actor, claim: VoucherClaim, contract_nos, invoice_nos) -> VoucherClaim:
    """Recompute and reserve the subsidy, serialised with every submission and approval of the year."""
    _require_claimant(actor, claim)
    contracts, invoices = _numbers(contract_nos, "contract_nos"), _numbers(invoice_nos, "invoice_nos")
    lock_year(claim.year)
    org = _fresh(claim)
    if claim.status not in EDITABLE_STATES:
        raise InvalidState(_("Only a draft or returned claim can be submitted."))
    result = eligibility.check(org, claim.policy)
    if not result.eligible:
        raise PermissionDenied(_("The enterprise does not meet the voucher criteria."), code="not_eligible",
                               criteria=result.to_json()["criteria"])
    if not policies.is_newest(claim.policy):
        raise Conflict(_("The policy of this draft was superseded: create a claim under the newest version."),
                       code="policy_superseded")
    if not policies.within_dates(claim.policy, local_today()):
        raise Conflict(_("This policy does not accept claims now."), code="policy_not_open")
    if not db.session.scalar(select(func.count()).where(VoucherEvidence.claim_id == claim.id)):
        raise Conflict(_("Upload the payment proofs before submitting."), code="evidence_required")
    lines, trace = compute(org, claim.policy, [ln.service_record_id for ln in claim.lines], claim.id)
    if not trace.submittable:
        raise Conflict(_("The subsidy is zero or below the policy's minimum claim."), code="below_min_claim",
                       subsidy_fen=trace.subsidy_fen, min_claim_fen=trace.min_claim_fen)
    _store(claim, lines, trace)
    _lock_records(claim)
    claim.status, claim.submitted_at, claim.submitted_by_id = "submitted", now_utc(), actor.id
    claim.submitted_trace = claim.trace
    claim.contract_nos, claim.invoice_nos = json.dumps(contracts), json.dumps(invoices)
    db.session.flush()
    audit.append("voucher.claim_submitted", actor=actor, organization_id=org.id, object_type="voucher_claim",
                 object_id=claim.id, details={"trace": trace.to_json(), "contract_nos": contracts,
                                              "invoice_nos": invoices})
    return claim
