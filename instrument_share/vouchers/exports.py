"""Voucher reports for the commission: claims, payouts, subsidy per enterprise and per provider, as CSV or XLSX.

Money stays in integer fen (exact, as in the API); the per-provider report sums the exact line subsidies before the
caps, in fen with four decimals, because caps apply to a claim and not to its providers.
"""

import json
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import Organization
from ..core import spreadsheet
from ..core.clock import local_iso
from ..db import db
from ..ledger.models import ServiceRecord
from . import access
from .compute import format_e4
from .models import (
    COMMITTED_STATES,
    GRANTED_STATES,
    ClaimStatus,
    VoucherClaim,
    VoucherClaimLine,
    VoucherClaimSignal,
    VoucherPolicy,
)

REPORTS = ("claims", "payouts", "enterprises", "providers")
FORMATS = ("csv", "xlsx")


@dataclass
class Report:
    name: str
    headers: list[str]
    rows: list[list]


def _claims(year: int | None):
    stmt = select(VoucherClaim, Organization, VoucherPolicy.version).join(
        Organization, Organization.id == VoucherClaim.organization_id).join(
        VoucherPolicy, VoucherPolicy.id == VoucherClaim.policy_id).order_by(VoucherClaim.id)
    if year is not None:
        stmt = stmt.where(VoucherClaim.year == year)
    return db.session.execute(stmt).all()


def _signals(claim_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if claim_ids:
        for claim_id, code in db.session.execute(select(VoucherClaimSignal.claim_id, VoucherClaimSignal.code).where(
                VoucherClaimSignal.claim_id.in_(claim_ids)).order_by(VoucherClaimSignal.code)):
            found[claim_id].append(code)
    return found


def claims_report(year: int | None) -> Report:
    rows = _claims(year)
    signals = _signals([c.id for c, _o, _v in rows])
    return Report("claims", [
        _("Claim"), _("Year"), _("Policy version"), _("Enterprise"), _("USCC"), _("Status"), _("Raw subsidy (fen)"),
        _("Subsidy (fen)"), _("Invoice numbers"), _("Submitted"), _("Decided"), _("Notice until"), _("Paid on"),
        _("Payment reference"), _("Clawback (fen)"), _("Signals")], [
        [c.id, c.year, version, org.name, org.uscc, c.status, c.raw_fen, c.subsidy_fen,
         " ".join(json.loads(c.invoice_nos or "[]")), local_iso(c.submitted_at) or "", local_iso(c.decided_at) or "",
         local_iso(c.notice_until) or "", c.paid_on.isoformat() if c.paid_on else "", c.payment_ref or "",
         c.clawback_fen if c.clawback_fen is not None else "", " ".join(signals.get(c.id, []))]
        for c, org, version in rows])


def payouts_report(year: int | None) -> Report:
    rows = [(c, org) for c, org, _v in _claims(year) if c.status == ClaimStatus.paid]
    return Report("payouts", [
        _("Claim"), _("Year"), _("Enterprise"), _("USCC"), _("Subsidy (fen)"), _("Paid on"), _("Payment reference"),
        _("Clawback (fen)"), _("Net after clawback (fen)")], [
        [c.id, c.year, org.name, org.uscc, c.subsidy_fen, c.paid_on.isoformat(), c.payment_ref or "",
         c.clawback_fen or 0, c.subsidy_fen - (c.clawback_fen or 0)] for c, org in rows])


def enterprises_report(year: int | None) -> Report:
    totals: dict[int, dict] = {}
    for c, org, _v in _claims(year):
        if c.status == ClaimStatus.draft:
            continue
        t = totals.setdefault(org.id, {"org": org, "claims": 0, "committed": 0, "granted": 0, "paid": 0,
                                       "clawback": 0})
        t["claims"] += 1
        t["committed"] += c.subsidy_fen if c.status in COMMITTED_STATES else 0
        t["granted"] += c.subsidy_fen if c.status in GRANTED_STATES else 0
        t["paid"] += c.subsidy_fen if c.status == ClaimStatus.paid else 0
        t["clawback"] += c.clawback_fen or 0
    return Report("enterprises", [
        _("Enterprise"), _("USCC"), _("Claims submitted"), _("Committed (fen)"), _("Approved or paid (fen)"),
        _("Paid (fen)"), _("Clawback (fen)")], [
        [t["org"].name, t["org"].uscc, t["claims"], t["committed"], t["granted"], t["paid"], t["clawback"]]
        for t in sorted(totals.values(), key=lambda t: (-t["granted"], t["org"].id))])


def providers_report(year: int | None) -> Report:
    stmt = select(Organization, VoucherClaimLine.claim_id, VoucherClaimLine.eligible_fen,
                  VoucherClaimLine.line_subsidy_e4).join(
        ServiceRecord, ServiceRecord.unit_id == Organization.id).join(
        VoucherClaimLine, VoucherClaimLine.service_record_id == ServiceRecord.id).join(
        VoucherClaim, VoucherClaim.id == VoucherClaimLine.claim_id).where(
        VoucherClaim.status.in_(GRANTED_STATES), VoucherClaimLine.reason.is_(None))
    if year is not None:
        stmt = stmt.where(VoucherClaim.year == year)
    totals: dict[int, dict] = {}
    for org, claim_id, eligible, e4 in db.session.execute(stmt):
        t = totals.setdefault(org.id, {"org": org, "claims": set(), "lines": 0, "eligible": 0, "e4": 0})
        t["claims"].add(claim_id)
        t["lines"] += 1
        t["eligible"] += eligible
        t["e4"] += e4
    return Report("providers", [
        _("Provider"), _("USCC"), _("Approved or paid claims"), _("Services"), _("Eligible revenue (fen)"),
        _("Line subsidies before caps (fen)")], [
        [t["org"].name, t["org"].uscc, len(t["claims"]), t["lines"], t["eligible"], format_e4(t["e4"])]
        for t in sorted(totals.values(), key=lambda t: (-t["e4"], t["org"].id))])


BUILDERS = {"claims": claims_report, "payouts": payouts_report, "enterprises": enterprises_report,
            "providers": providers_report}


def build(name: str, year: int | None, actor) -> Report:
    """The report for `actor`; they are whole-platform figures, so only the commission exports them."""
    access.require_exporter(actor)
    return BUILDERS[name](year)


def to_csv(report: Report) -> bytes:
    return spreadsheet.csv_bytes([report.headers, *report.rows])


def to_xlsx(report: Report) -> bytes:
    return spreadsheet.xlsx_bytes([(report.name, [report.headers, *report.rows])])
