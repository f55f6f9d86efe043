"""Builders for the voucher core tests: providers (civilian, defence, outside Nanjing), an eligible SME, the
commission officer, a 2026 policy, and service records with ledger entries inserted directly as ORM rows, so these
tests do not depend on the ledger services.

The frozen clock starts on Tuesday 2026-12-01 10:00 in Nanjing (02:00 UTC), inside the policy's dates. Providers'
instruments are published (a defence one through review and approval) and listed since the start of 2025, and a
defence provider has cleared the organisations it serves: measure 19 subsidises services of instruments open
through the platform only.
"""

import io
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from instrument_share.accounts import organizations
from instrument_share.accounts.models import Organization, OrgRelation
from instrument_share.catalogue.models import Instrument
from instrument_share.db import db
from instrument_share.ledger.models import RevenueEntry, ServiceRecord
from instrument_share.vouchers import claims, policies
from instrument_share.vouchers.models import COMMITTED_STATES, VoucherClaim, VoucherPolicy

from .catalogue_support import (
    Unit,
    civilian_unit,
    clear,
    defence_unit,
    open_since,
    publish_civilian,
    publish_defence,
)
from .client import call as api  # noqa: F401  (re-exported: the voucher tests call vs.api)
from .factories import Factory, valid_uscc

_n = itertools.count(1)
DAY = date(2026, 12, 1)
LISTED_SINCE = datetime(2025, 1, 1, tzinfo=UTC)
MODES = ["machine_time", "sample_testing", "experiment", "statutory_testing"]


def sme_profile(**changes) -> organizations.SmeProfile:
    values = {"staff_count": 86, "annual_revenue_fen": 4_200_000_000, "total_assets_fen": 3_100_000_000,
              "tech_sme_no": "202432011503456"} | changes
    return organizations.SmeProfile(**values)


@dataclass
class Provider:
    unit: Unit
    instrument: Instrument

    @property
    def org(self) -> Organization:
        return self.unit.org


@dataclass
class Claimant:
    org: Organization
    user: object
    headers: dict


@dataclass
class VWorld:
    factory: Factory
    officer: object
    officer_headers: dict
    auditor: object
    nanjing: Provider
    defence: Provider
    shanghai: Provider
    sme: Claimant
    policy: VoucherPolicy
    extra: dict = field(default_factory=dict)


def provider(factory: Factory, kind: str = "university", *, region: str | None = None) -> Provider:
    if kind == "defence_unit":
        unit = defence_unit(factory)
        instrument = publish_defence(unit, {"name_zh": "public"}, service_modes=MODES)
    else:
        unit = civilian_unit(factory, kind, region=region)
        instrument = publish_civilian(unit, service_modes=MODES)
    return Provider(unit, open_since(instrument, LISTED_SINCE))


def claimant(factory: Factory, *, controller: str | None = None, region: str = "320100", headers: bool = True,
             **sme) -> Claimant:
    org = factory.org("enterprise", name=f"南京创新科技有限公司{next(_n)}", uscc=valid_uscc(region=region),
                      sme=sme_profile(**sme), actual_controller=controller)
    user = factory.user(org, ("sme_user",))
    return Claimant(org, user, factory.bearer(user) if headers else {})


def make_policy(officer, year: int = 2026, **changes) -> VoucherPolicy:
    data = {"year": year, "valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31", "budget_fen": 1_000_000_000}
    with db.transaction():
        return policies.create_policy(actor=officer, data=data | changes)


def world(factory: Factory, **policy_changes) -> VWorld:
    commission = factory.org("commission", name=f"南京市科学技术局{next(_n)}")
    officer = factory.user(commission, ("commission_officer",), totp=True)
    auditor = factory.user(commission, ("commission_auditor",), totp=True)
    return VWorld(factory, officer, factory.bearer(officer), auditor, provider(factory),
                  provider(factory, "defence_unit"), provider(factory, region="310100"), claimant(factory),
                  make_policy(officer, **policy_changes))


def local(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def record(prov: Provider, org: Organization, *, mode: str = "machine_time", charge: int = 100_000,
           paid: list | None = None, refunds: list | None = None, adjustments: list | None = None,
           day: date = DAY) -> ServiceRecord:
    """A service record with its ledger rows: paid/refunds are [(fen, date)] (a bare int means DAY), adjustments
    [(direction, fen)]. Without `paid` the full charge is paid on DAY."""
    paid = [(charge, day)] if paid is None else paid
    if prov.unit.reviewer is not None:  # a defence unit serves the organisations it has cleared
        clear(prov.unit, org)
    with db.transaction():
        operator = prov.unit.operator
        rec = ServiceRecord(instrument_id=prov.instrument.id, unit_id=prov.org.id, organization_id=org.id, mode=mode,
                            actual_start=local(day), actual_end=local(day, 12), start_local_date=day,
                            effective_minutes=120, samples=None, external=True, fee_fen=charge,
                            fee_basis="test", operator_id=operator.id, created_by_id=operator.id)
        db.session.add(rec)
        db.session.flush()

        def entry(kind, amount, on=day, direction=None):
            db.session.add(RevenueEntry(service_record_id=rec.id, unit_id=prov.org.id, organization_id=org.id,
                                        kind=kind, direction=direction, amount_fen=amount, entry_date=on,
                                        entered_by_id=operator.id))

        if charge:
            entry("charge", charge)
        for item in paid:
            amount, on = item if isinstance(item, tuple) else (item, day)
            entry("payment", amount, on)
        for item in refunds or []:
            amount, on = item if isinstance(item, tuple) else (item, day)
            entry("refund", amount, on)
        for direction, amount in adjustments or []:
            entry("adjustment", amount, direction=direction)
    return rec


def relate(a: Organization, b: Organization, kind: str) -> None:
    with db.transaction():
        db.session.add(OrgRelation(organization_id=a.id, other_id=b.id, kind=kind))


def draft(w: VWorld, records, who: Claimant | None = None, policy: VoucherPolicy | None = None) -> VoucherClaim:
    who = who or w.sme
    with db.transaction():
        return claims.create_draft(actor=who.user, policy=policy or w.policy, record_ids=[r.id for r in records])


class Upload(io.BytesIO):
    def __init__(self, data: bytes = b"%PDF-1.4 payment proof", filename: str = "proof.pdf"):
        super().__init__(data)
        self.filename, self.mimetype = filename, "application/pdf"


def submitted(w: VWorld, records, who: Claimant | None = None) -> VoucherClaim:
    who = who or w.sme
    claim = draft(w, records, who)
    with db.transaction():
        claims.add_evidence(actor=who.user, claim=claim, file=Upload())
    with db.transaction():
        claims.submit(actor=who.user, claim=claim, contract_nos=["HT-1"], invoice_nos=[f"FP-{next(_n)}"])
    return claim


def committed_sql(year: int = 2026, org_id: int | None = None) -> int:
    db.session.rollback()
    stmt = select(func.coalesce(func.sum(VoucherClaim.subsidy_fen), 0)).where(
        VoucherClaim.year == year, VoucherClaim.status.in_(COMMITTED_STATES))
    if org_id is not None:
        stmt = stmt.where(VoucherClaim.organization_id == org_id)
    return int(db.session.scalar(stmt))


def expect(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    if code is not None:
        assert body["error"] == code, body
        assert set(body) >= {"error", "message", "fields"}
    return body
