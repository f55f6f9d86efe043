"""Builders for the voucher workflow tests: a Nanjing provider with an instrument, an eligible SME, the commission's
auditors and officer, a policy of 2026, paid services, and claims taken to `submitted` and beyond.

The frozen clock of these tests starts on Tuesday 2026-12-01 10:00 in Nanjing (02:00 UTC), inside the policy year;
the instrument has been listed since the start of 2025.
"""

import io
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from instrument_share.accounts import organizations
from instrument_share.accounts.models import Organization, User
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.ledger import entries, service_records
from instrument_share.ledger.models import ServiceRecord
from instrument_share.vouchers import claims, policies
from instrument_share.vouchers.models import VoucherClaim, VoucherClaimedRecord, VoucherPolicy

from .catalogue_support import Unit, call, civilian_unit, open_since, publish_civilian
from .factories import Factory, Operator

TZ = ZoneInfo("Asia/Shanghai")
_invoices = itertools.count(1)


def sme_profile() -> organizations.SmeProfile:
    return organizations.SmeProfile(staff_count=86, annual_revenue_fen=4_200_000_000, total_assets_fen=3_100_000_000,
                                    tech_sme_no="202432011503456")


@dataclass
class VoucherWorld:
    factory: Factory
    unit: Unit
    instrument: object
    sme: Organization
    sme_user: object
    commission: Organization
    auditor1: object
    auditor2: object
    officer: object
    policy: VoucherPolicy
    headers: dict = field(default_factory=dict)

    def h(self, who: str) -> dict:
        return self.headers[who]


def enterprise(factory: Factory, name: str | None = None) -> Organization:
    return factory.org("enterprise", name=name, sme=sme_profile())


def make_policy(officer, year: int = 2026, **changes) -> VoucherPolicy:
    data = {"year": year, "valid_from": date(year, 1, 1), "valid_to": date(year, 12, 31),
            "budget_fen": 1_000_000_000} | changes
    with db.transaction():
        return policies.create_policy(actor=db.session.merge(officer), data=data)


def voucher_world(factory: Factory, *, fee_per_hour_fen: int = 50_000, **policy_changes) -> VoucherWorld:
    unit = civilian_unit(factory)
    instrument = open_since(publish_civilian(unit, service_modes=["machine_time", "sample_testing", "experiment"],
                                             fee_per_hour_fen=fee_per_hour_fen), datetime(2025, 1, 1, tzinfo=TZ))
    sme = enterprise(factory)
    sme_user = factory.user(sme, ("sme_user",))
    commission = factory.org("commission", name="南京市科学技术局（测试）")
    auditor1 = factory.user(commission, ("commission_auditor",), totp=True)
    auditor2 = factory.user(commission, ("commission_auditor",), totp=True)
    officer = factory.user(commission, ("commission_officer",), totp=True)
    policy = make_policy(officer, **policy_changes)
    world = VoucherWorld(factory, unit, instrument, sme, sme_user, commission, auditor1, auditor2, officer, policy)
    world.headers = {"sme": factory.bearer(sme_user), "auditor1": factory.bearer(auditor1),
                     "auditor2": factory.bearer(auditor2), "officer": factory.bearer(officer),
                     "operator": unit.h("operator")}
    return world


def service(world: VoucherWorld, *, minutes: int = 60, paid_fen: int | None = None, paid_on: date | None = None,
            org: Organization | None = None, day: date = date(2026, 11, 20), invoice_no: str | None = None,
            instrument=None) -> ServiceRecord:
    """A machine-time service given on `day` (local), charged by the fee standard and paid (all by default)."""
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=TZ)
    with db.transaction():
        record = service_records.record_standalone(
            actor=db.session.merge(world.unit.operator), instrument=db.session.merge(instrument or world.instrument),
            organization=db.session.merge(org or world.sme), mode="machine_time", actual_start=start,
            actual_end=start + timedelta(minutes=minutes))
        amount = record.fee_fen if paid_fen is None else paid_fen
        if amount:
            entries.append_entry(actor=db.session.merge(world.unit.operator), record=record, kind="payment",
                                 amount_fen=amount, entry_date=paid_on or day,
                                 invoice_no=invoice_no or f"INV-{next(_invoices):06d}")
    return record


def refund(world: VoucherWorld, record: ServiceRecord, amount_fen: int, on: date = date(2026, 12, 1)):
    with db.transaction():
        return entries.append_entry(actor=db.session.merge(world.unit.operator),
                                    record=db.session.get(ServiceRecord, record.id), kind="refund",
                                    amount_fen=amount_fen, entry_date=on, reason="客户退款")


class Upload(io.BytesIO):
    """An uploaded file as the claims service reads it (filename, mimetype, read())."""

    def __init__(self, data: bytes = b"%PDF-1.4 payment proof", filename: str = "payment-proof.pdf"):
        super().__init__(data)
        self.filename, self.mimetype = filename, "application/pdf"


def draft_claim(world: VoucherWorld, records: list[ServiceRecord], *, user=None) -> VoucherClaim:
    with db.transaction():
        return claims.create_draft(actor=db.session.merge(user or world.sme_user), policy=world.policy,
                                   record_ids=[r.id for r in records])


def submitted_claim(world: VoucherWorld, records: list[ServiceRecord], *, org: Organization | None = None,
                    user=None, invoice_nos: list[str] | None = None) -> VoucherClaim:
    """A claim taken through the claims services: drafted, evidence uploaded, submitted (reserved)."""
    if user is None:
        user = world.sme_user if org is None or org.id == world.sme.id else \
            db.session.scalar(select(User).where(User.organization_id == org.id).order_by(User.id).limit(1))
    claim = draft_claim(world, records, user=user)
    with db.transaction():
        actor, claim = db.session.merge(user), db.session.merge(claim)
        claims.add_evidence(actor=actor, claim=claim, file=Upload())
        claims.submit(actor=actor, claim=claim, contract_nos=[], invoice_nos=invoice_nos or [])
    return claim


def claim_row(claim_id: int) -> VoucherClaim:
    db.session.rollback()
    return db.session.get(VoucherClaim, claim_id)


def claimed_records(claim_id: int) -> list[int]:
    db.session.rollback()
    return list(db.session.scalars(select(VoucherClaimedRecord.service_record_id).where(
        VoucherClaimedRecord.claim_id == claim_id)))


def audit_of(claim_id: int) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == "voucher_claim", AuditEntry.object_id == str(claim_id)).order_by(AuditEntry.seq)))


def act(client, world: VoucherWorld, claim_id: int, action: str, who: str, json_body=None):
    return call(client, "POST", f"/voucher-claims/{claim_id}/{action}", world.h(who), json_body)


def approved_claim(client, world: VoucherWorld, records: list[ServiceRecord]) -> VoucherClaim:
    claim = submitted_claim(world, records)
    for action, who in (("review", "auditor1"), ("approve", "auditor1")):
        response = act(client, world, claim.id, action, who)
        assert response.status_code == 200, response.get_data(as_text=True)
    return claim_row(claim.id)


__all__ = ["Operator", "VoucherWorld", "act", "approved_claim", "audit_of", "call", "claim_row", "claimed_records",
           "draft_claim", "enterprise", "make_policy", "refund", "service", "submitted_claim", "voucher_world"]
