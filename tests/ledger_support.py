"""Builders shared by the ledger tests: a provider unit with two operators and an instrument, user organisations,
service records made through the real services, and ledger sums read straight from the table.

The frozen clock starts on Tuesday 2026-12-01 10:00 in Nanjing (booking_support); stand-alone records are put on
the day before, so they have ended. The instrument has been listed since 1 November (measure 19: services for other
organisations are recorded only while it is open).
"""

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from instrument_share.audit.models import AuditEntry
from instrument_share.bookings import service as bookings
from instrument_share.bookings.models import Booking
from instrument_share.db import db
from instrument_share.ledger import entries, service_records
from instrument_share.ledger.models import RevenueEntry, ServiceRecord

from .booking_support import DAY0, at, book, booker, expect, iso
from .catalogue_support import civilian_unit, open_since, publish_civilian

ALL_MODES = ["machine_time", "sample_testing", "experiment", "statutory_testing"]
PER_HOUR, PER_SAMPLE = 50_000, 20_000
LISTED_SINCE = at(-30, "00:00")


@dataclass
class Ledger:
    unit: object  # catalogue_support.Unit, operator = first operator
    op2: object  # a second operator of the unit
    instrument: object
    alice: object  # booking_support.Booker: the main user organisation
    bob: object  # another organisation
    commission: object
    factory: object
    headers: dict = field(default_factory=dict)

    @property
    def op1(self):
        return self.unit.operator


def make_ledger(factory, **instrument_changes) -> Ledger:
    unit = civilian_unit(factory)
    op2 = factory.user(unit.org, ("provider_operator",))
    instrument = open_since(publish_civilian(unit, **({"service_modes": ALL_MODES, "fee_per_hour_fen": PER_HOUR,
                                                       "fee_per_sample_fen": PER_SAMPLE} | instrument_changes)),
                            LISTED_SINCE)
    commission_org = factory.org("commission")
    commission = factory.user(commission_org, ("commission_auditor",), totp=True)
    ledger = Ledger(unit, op2, instrument, booker(factory), booker(factory), commission, factory)
    ledger.headers = {"op1": unit.h("operator"), "op2": factory.bearer(op2), "alice": ledger.alice.headers,
                      "bob": ledger.bob.headers, "commission": factory.bearer(commission)}
    return ledger


def standalone(lg: Ledger, org=None, *, minutes: int = 90, mode: str = "machine_time", samples=None,
               actor=None) -> ServiceRecord:
    """A service yesterday 09:00 local, for `org` (default alice's organisation), in its own transaction."""
    start = at(-1, "09:00")
    with db.transaction():
        return service_records.record_standalone(
            actor=actor or lg.op1, instrument=db.session.merge(lg.instrument),
            organization=db.session.merge(org or lg.alice.org), mode=mode, actual_start=start,
            actual_end=start + timedelta(minutes=minutes), samples=samples)


def append(lg: Ledger, record, kind: str, amount: int, *, actor=None, day=None, **extra):
    with db.transaction():
        return entries.append_entry(actor=db.session.merge(actor or lg.op1), record=db.session.merge(record),
                                    kind=kind, amount_fen=amount, entry_date=day or DAY0, **extra)


def booking_in_progress(client, lg: Ledger, clock, *, mode: str = "machine_time") -> int:
    """A machine-time booking for Wednesday 10:00–11:30, confirmed, the user arrived; the clock is then 12:00."""
    body = expect(book(client, lg.alice.headers, lg.instrument.id, iso(1, "10:00"), iso(1, "11:30"), mode=mode), 201)
    with db.transaction():
        bookings.confirm(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, body["id"]))
    clock.move(days=1)
    with db.transaction():
        bookings.start(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, body["id"]))
    clock.move(hours=2)
    return body["id"]


def sample_order(client, lg: Ledger, *, samples: int = 3, mode: str = "sample_testing", confirm: bool = True) -> int:
    wanted_by = (DAY0.replace(day=20)).isoformat()
    body = expect(book(client, lg.alice.headers, lg.instrument.id, mode=mode, samples=samples,
                       wanted_by=wanted_by), 201)
    if confirm:
        with db.transaction():
            bookings.confirm(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, body["id"]))
    return body["id"]


def sums_from_table(record_id: int | None = None, **where) -> dict:
    """Ledger totals computed in Python from the rows, to compare with the SQL balances."""
    db.session.rollback()
    stmt = select(RevenueEntry)
    if record_id is not None:
        stmt = stmt.where(RevenueEntry.service_record_id == record_id)
    for name, value in where.items():
        stmt = stmt.where(getattr(RevenueEntry, name) == value)
    totals = {"charge": 0, "debit": 0, "credit": 0, "payment": 0, "refund": 0}
    for e in db.session.scalars(stmt):
        totals[e.direction if e.kind == "adjustment" else e.kind] += e.amount_fen
    totals["owed"] = totals["charge"] + totals["debit"] - totals["credit"] - totals["payment"] + totals["refund"]
    return totals


def entry_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(RevenueEntry))


def audit_of(object_type: str, object_id) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id)).order_by(AuditEntry.seq)))
