"""Builders for the statistics, report and dashboard tests.

Service records, ledger entries and ratings are inserted straight through the ORM into the real database (the
statistics only read them), so these tests do not depend on the ledger services' rules.
"""

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from instrument_share.db import db
from instrument_share.ledger.models import RevenueEntry, ServiceRating, ServiceRecord

from .catalogue_support import Unit, civilian_unit, publish_civilian

TZ = ZoneInfo("Asia/Shanghai")
_invoices = itertools.count(1)


def local(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def record(instrument, organization, *, start: datetime, minutes: int, operator, mode: str = "machine_time",
           samples: int | None = None, fee_fen: int = 0) -> ServiceRecord:
    """A service on `instrument` for `organization`, starting at the aware time `start`."""
    with db.transaction():
        row = ServiceRecord(
            instrument_id=instrument.id, unit_id=instrument.owner_id, organization_id=organization.id, mode=mode,
            actual_start=start, actual_end=start + timedelta(minutes=minutes),
            start_local_date=start.astimezone(TZ).date(), effective_minutes=minutes, samples=samples,
            external=organization.id != instrument.owner_id, fee_fen=fee_fen, fee_basis="test",
            operator_id=operator.id, created_by_id=operator.id)
        db.session.add(row)
    return row


def entry(rec: ServiceRecord, kind: str, amount_fen: int, on: date, *, user, direction: str | None = None,
          invoice: bool = False) -> RevenueEntry:
    with db.transaction():
        row = RevenueEntry(service_record_id=rec.id, unit_id=rec.unit_id, organization_id=rec.organization_id,
                           kind=kind, direction=direction, amount_fen=amount_fen, entry_date=on,
                           invoice_no=f"FP{next(_invoices):08d}" if invoice else None, entered_by_id=user.id)
        db.session.add(row)
    return row


def rate(rec: ServiceRecord, score: int, *, user, comment: str = "") -> ServiceRating:
    with db.transaction():
        row = ServiceRating(service_record_id=rec.id, instrument_id=rec.instrument_id, unit_id=rec.unit_id,
                            organization_id=rec.organization_id, user_id=user.id, score=score, comment=comment)
        db.session.add(row)
    return row


@dataclass
class Scene:
    """Two provider units in two districts, three instruments, two enterprises with one user each."""

    unit_a: Unit
    unit_b: Unit
    a1: object  # unit A, 玄武区
    a2: object  # unit A, 鼓楼区
    b1: object  # unit B, 玄武区
    sme1: object
    sme2: object
    sme1_user: object
    sme2_user: object
    extra: dict = field(default_factory=dict)


def scene(factory) -> Scene:
    unit_a, unit_b = civilian_unit(factory), civilian_unit(factory, "research_institute")
    a1 = publish_civilian(unit_a, district="玄武区", name_zh="扫描电镜A1")
    a2 = publish_civilian(unit_a, district="鼓楼区", name_zh="质谱仪A2")
    b1 = publish_civilian(unit_b, district="玄武区", name_zh="核磁共振B1")
    sme1, sme2 = factory.org("enterprise"), factory.org("enterprise")
    u1, u2 = factory.user(sme1, ("sme_user",)), factory.user(sme2, ("sme_user",))
    return Scene(unit_a, unit_b, a1, a2, b1, sme1, sme2, u1, u2)


def db_sum(kind: str, **where) -> int:
    stmt = select(func.coalesce(func.sum(RevenueEntry.amount_fen), 0)).where(RevenueEntry.kind == kind)
    for name, value in where.items():
        column = getattr(RevenueEntry, name)
        stmt = stmt.where(column >= value[0], column < value[1]) if isinstance(value, tuple) else \
            stmt.where(column == value)
    return int(db.session.scalar(stmt))

