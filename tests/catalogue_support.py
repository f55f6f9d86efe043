"""Builders shared by the catalogue tests: units with their people, and instruments taken through the real services."""

import csv
import io
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from instrument_share.accounts.models import Organization, User
from instrument_share.audit.models import AuditEntry
from instrument_share.catalogue import defence, listings
from instrument_share.catalogue.fields import FIELDS
from instrument_share.catalogue.models import Clearance, Instrument, ListingPeriod
from instrument_share.db import db

from .client import call  # noqa: F401  (re-exported: the catalogue tests import it from here)

_numbers = itertools.count(1)


def values(**changes) -> dict:
    """A complete, valid instrument as the API takes it."""
    return {
        "name_zh": "场发射扫描电子显微镜", "name_en": "Field emission scanning electron microscope",
        "model": "SU8010", "manufacturer": "日立高新", "country": "日本", "serial_no": "SN-2019-0001",
        "purchase_date": "2019-05-01", "original_value_fen": 300_000_000, "category_code": "0101",
        "location": "南京市玄武区孝陵卫200号", "district": "玄武区", "technical_indicators": "二次电子分辨率1.0纳米",
        "main_functions": "材料表面形貌观察与成分分析", "service_content": "样品测试与上机培训",
        "service_modes": ["machine_time", "sample_testing"], "fee_per_hour_fen": 50_000,
        "fee_per_sample_fen": 20_000, "fee_notes": "校内用户另行约定", "contact": "张老师 025-84310000",
    } | changes


@dataclass
class Unit:
    """A provider unit and its people; for a defence unit also its confidentiality reviewer and the superior
    authority's approver."""

    org: Organization
    operator: User
    reviewer: User | None = None
    superior: Organization | None = None
    approver: User | None = None
    headers: dict = field(default_factory=dict)

    def h(self, who: str) -> dict:
        return self.headers[who]


def defence_unit(factory, *, authority: Organization | None = None, name: str | None = None,
                 with_headers: bool = True) -> Unit:
    authority = authority or factory.org("authority", name=f"国防科工主管部门{next(_numbers)}")
    org = factory.org("defence_unit", superior=authority, name=name or f"军工研究所{next(_numbers)}")
    operator = factory.user(org, ("provider_operator",))
    reviewer = factory.user(org, ("defence_approver",), totp=True)
    approvers = [u for u in db.session.scalars(select(User).where(User.organization_id == authority.id))
                 if u.has_role("defence_approver")]
    approver = approvers[0] if approvers else factory.user(authority, ("defence_approver",), totp=True)
    unit = Unit(org, operator, reviewer, authority, approver)
    if with_headers:
        unit.headers = {"operator": factory.bearer(operator), "reviewer": factory.bearer(reviewer),
                        "approver": factory.bearer(approver)}
    return unit


def civilian_unit(factory, kind: str = "university", *, name: str | None = None, region: str | None = None,
                  with_headers: bool = True) -> Unit:
    from .factories import valid_uscc

    extra = {"uscc": valid_uscc(region=region)} if region else {}
    org = factory.org(kind, name=name or f"南京测试大学{next(_numbers)}", **extra)
    operator = factory.user(org, ("provider_operator",))
    unit = Unit(org, operator)
    if with_headers:
        unit.headers = {"operator": factory.bearer(operator)}
    return unit


# ---------------------------------------------------------------- service-level shortcuts (one transaction each)


def create(unit: Unit, **changes) -> Instrument:
    body = values(**changes)
    with db.transaction():
        return listings.create_instrument(actor=unit.operator, values=body)


def publish_civilian(unit: Unit, **changes) -> Instrument:
    instrument = create(unit, **changes)
    with db.transaction():
        listings.publish(actor=unit.operator, instrument=instrument)
    return instrument


def submit(unit: Unit, instrument: Instrument) -> Instrument:
    with db.transaction():
        return defence.submit(actor=unit.operator, instrument=instrument)


def review(unit: Unit, instrument: Instrument, visibility: dict | None, *, passed: bool = True,
           comment: str = "") -> Instrument:
    with db.transaction():
        return defence.review(actor=unit.reviewer, instrument=instrument, passed=passed,
                              field_visibility=visibility, comment=comment or ("同意" if passed else "需修改"))


def approve(unit: Unit, instrument: Instrument, approval_no: str | None = None, valid_until=None) -> Instrument:
    with db.transaction():
        return defence.approve(actor=unit.approver, instrument=instrument,
                               approval_no=approval_no or f"科工批〔2026〕{next(_numbers)}号", valid_until=valid_until)


def publish_defence(unit: Unit, visibility: dict, **changes) -> Instrument:
    instrument = create(unit, **changes)
    submit(unit, instrument)
    review(unit, instrument, visibility)
    return approve(unit, instrument)


def open_since(instrument: Instrument, since: datetime) -> Instrument:
    """Test data: the published listing has been open since `since` (its open period starts then; a defence
    listing's approval is valid from that day), as if it had been published long before the frozen clock."""
    with db.transaction():
        period = db.session.scalar(select(ListingPeriod).where(ListingPeriod.instrument_id == instrument.id,
                                                               ListingPeriod.closed_at.is_(None)))
        period.opened_at = since
        if period.valid_from is not None:
            period.valid_from = since.astimezone(ZoneInfo("Asia/Shanghai")).date()
    return instrument


def clear(unit: Unit, org: Organization) -> None:
    """Test data: the defence unit has cleared `org` (once)."""
    with db.transaction():
        if db.session.scalar(select(Clearance.id).where(Clearance.unit_id == unit.org.id,
                                                        Clearance.organization_id == org.id)) is None:
            db.session.add(Clearance(unit_id=unit.org.id, organization_id=org.id, agreement_version="2026-01",
                                     agreed_on=date(2026, 1, 1), created_by_id=unit.operator.id))


def audit_actions(instrument_id: int) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "instrument", AuditEntry.object_id == str(instrument_id)).order_by(AuditEntry.seq)))


# ---------------------------------------------------------------- catalogue files for bulk import

HEADERS = [f.header for f in FIELDS]


def row(i: int, **changes) -> dict:
    values = {"name_zh": f"液相色谱仪 L{i:05d}", "name_en": "HPLC", "model": f"1290-{i}", "manufacturer": "安捷伦",
              "country": "美国", "serial_no": f"SN{i:06d}", "purchase_date": "2024/5/31",
              "original_value_fen": "523000.50", "category_code": "0105", "location": "南京市鼓楼区汉口路22号",
              "district": "鼓楼区", "technical_indicators": "流速 0.001–5 mL/min", "main_functions": "药物成分分离",
              "service_content": "送样检测", "service_modes": "机时、送样检测", "fee_per_hour_fen": "120",
              "fee_per_sample_fen": "80.5", "fee_notes": "", "contact": "025-83590000"}
    return values | changes


def table(rows: list[dict], headers: list[str] = HEADERS, names: list[str] | None = None) -> list[list]:
    names = names or [f.name for f in FIELDS]
    return [list(headers), *([r.get(n, "") for n in names] if r else [] for r in rows)]


def csv_bytes(cells: list[list], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(cells)
    return out.getvalue().encode(encoding)
