"""Open-sharing statistics, computed by SQL aggregation so they scale to millions of service records.

A service counts in the period of its `start_local_date` (the Asia/Shanghai day of its actual start); revenue is
payments minus refunds whose `entry_date` falls in the period; a rating counts with the service it rates. Three
grouped queries (services, ledger, ratings) answer any grouping: by instrument, unit, district or month, or none.

Districts are a restrictable field of defence listings: a defence instrument counts under its district only when
its approved visibility makes the district public, otherwise under "undisclosed" (None), so neither a district
filter nor a district breakdown ever reveals what the confidentiality review withheld.
"""

import json
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Table, case, func, literal, select
from sqlalchemy.ext.compiler import compiles

from ..accounts.models import Organization
from ..accounts.roles import OrgKind
from ..catalogue.fields import Visibility
from ..catalogue.models import Instrument
from ..db import db
from ..ledger.models import RevenueEntry, ServiceRating, ServiceRecord
from .periods import ALL_TIME, Period

GROUPS = ("instrument", "unit", "district", "month")
BP = 10_000
RANKED = 10  # entries of a ranking on the dashboards


@dataclass(frozen=True)
class Scope:
    """What the figures are about; every given filter applies (None: no filter)."""

    unit_id: int | None = None  # the owning (provider) unit
    instrument_id: int | None = None
    district: str | None = None
    organization_id: int | None = None  # the user organisation


CITY = Scope()


def sharing_rate_bp(external_minutes: int, effective_minutes: int) -> int:
    """External ÷ effective in basis points, rounded half up once; 0 when nothing was effective."""
    if effective_minutes <= 0:
        return 0
    return (2 * BP * external_minutes + effective_minutes) // (2 * effective_minutes)


@dataclass
class Figures:
    effective_minutes: int = 0
    external_minutes: int = 0
    services: int = 0
    external_services: int = 0
    external_users: int = 0  # distinct external user organisations (not additive across groups)
    samples: int = 0
    payments_fen: int = 0
    refunds_fen: int = 0
    charges_fen: int = 0
    rating_sum: int = 0
    rating_count: int = 0

    @property
    def revenue_fen(self) -> int:
        return self.payments_fen - self.refunds_fen

    @property
    def sharing_rate_bp(self) -> int:
        return sharing_rate_bp(self.external_minutes, self.effective_minutes)

    @property
    def rating_avg(self) -> Decimal | None:
        if not self.rating_count:
            return None
        return (Decimal(self.rating_sum) / self.rating_count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def as_json(self) -> dict:
        avg = self.rating_avg
        return asdict(self) | {"revenue_fen": self.revenue_fen, "sharing_rate_bp": self.sharing_rate_bp,
                               "rating_avg": None if avg is None else float(avg)}

    @classmethod
    def from_json(cls, data: dict) -> "Figures":
        """Back from as_json: only the stored integer fields are read (rating sum and count keep the average
        exact); revenue, sharing rate and average are derived again."""
        return cls(**{f.name: int(data[f.name]) for f in fields(cls)})


# ---------------------------------------------------------------- disclosure of districts


def undisclosed_district_ids() -> set[int]:
    """Defence instruments whose district the confidentiality review did not make public (few, so kept in memory)."""
    rows = db.session.execute(select(Instrument.id, Instrument.field_visibility).join(
        Organization, Organization.id == Instrument.owner_id).where(Organization.kind == OrgKind.defence_unit))
    return {row.id for row in rows
            if json.loads(row.field_visibility or "{}").get("district") != Visibility.public.value}


def district_key(hidden: set[int]):
    """The district a record counts under: its instrument's, or None when that is an undisclosed defence one."""
    if not hidden:
        return Instrument.district
    return case((Instrument.id.in_(sorted(hidden)), literal(None)), else_=Instrument.district)


def month_key(column):
    if db.dialect == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


# ---------------------------------------------------------------- the three grouped queries


def _in_period(stmt, column, period: Period):
    if period.start is not None:
        stmt = stmt.where(column >= period.start, column < period.end)
    return stmt


def _services(group: str | None, scope: Scope, period: Period, hidden: set[int]):
    sr = ServiceRecord
    ext = sr.external.is_(True)
    cols = [func.coalesce(func.sum(sr.effective_minutes), 0),
            func.coalesce(func.sum(case((ext, sr.effective_minutes), else_=0)), 0),
            func.count(), func.coalesce(func.sum(case((ext, 1), else_=0)), 0),
            func.count(func.distinct(case((ext, sr.organization_id), else_=None))),
            func.coalesce(func.sum(sr.samples), 0)]
    key = {"instrument": sr.instrument_id, "unit": sr.unit_id, "month": month_key(sr.start_local_date),
           "district": district_key(hidden), None: literal(None)}[group]
    stmt = select(key.label("key"), *cols).select_from(sr)
    if group == "district" or scope.district is not None:
        stmt = stmt.join(Instrument, Instrument.id == sr.instrument_id)
    stmt = _filters(stmt, scope, hidden, unit=sr.unit_id, instrument=sr.instrument_id, org=sr.organization_id)
    stmt = _in_period(stmt, sr.start_local_date, period)
    return stmt.group_by(key) if group else stmt


def _ledger(group: str | None, scope: Scope, period: Period, hidden: set[int]):
    re = RevenueEntry

    def total(kind):
        return func.coalesce(func.sum(case((re.kind == kind, re.amount_fen), else_=0)), 0)

    needs_record = group in ("instrument", "district") or scope.instrument_id is not None or scope.district is not None
    key = {"instrument": ServiceRecord.instrument_id, "unit": re.unit_id, "month": month_key(re.entry_date),
           "district": district_key(hidden), None: literal(None)}[group]
    stmt = select(key.label("key"), total("payment"), total("refund"), total("charge")).select_from(re)
    if needs_record:
        stmt = stmt.join(ServiceRecord, ServiceRecord.id == re.service_record_id)
    if group == "district" or scope.district is not None:
        stmt = stmt.join(Instrument, Instrument.id == ServiceRecord.instrument_id)
    stmt = _filters(stmt, scope, hidden, unit=re.unit_id, instrument=ServiceRecord.instrument_id,
                    org=re.organization_id)
    stmt = _in_period(stmt.where(re.kind.in_(("payment", "refund", "charge"))), re.entry_date, period)
    return stmt.group_by(key) if group else stmt


def _ratings(group: str | None, scope: Scope, period: Period, hidden: set[int]):
    ra = ServiceRating
    key = {"instrument": ra.instrument_id, "unit": ra.unit_id, "month": month_key(ServiceRecord.start_local_date),
           "district": district_key(hidden), None: literal(None)}[group]
    stmt = select(key.label("key"), func.coalesce(func.sum(ra.score), 0), func.count()).select_from(ra)
    if period.start is not None or group == "month":
        stmt = stmt.join(ServiceRecord, ServiceRecord.id == ra.service_record_id)
    if group == "district" or scope.district is not None:
        stmt = stmt.join(Instrument, Instrument.id == ra.instrument_id)
    stmt = _filters(stmt, scope, hidden, unit=ra.unit_id, instrument=ra.instrument_id, org=ra.organization_id)
    stmt = _in_period(stmt, ServiceRecord.start_local_date, period)
    return stmt.group_by(key) if group else stmt


def _filters(stmt, scope: Scope, hidden: set[int], *, unit, instrument, org):
    if scope.unit_id is not None:
        stmt = stmt.where(unit == scope.unit_id)
    if scope.instrument_id is not None:
        stmt = stmt.where(instrument == scope.instrument_id)
    if scope.organization_id is not None:
        stmt = stmt.where(org == scope.organization_id)
    if scope.district is not None:
        stmt = stmt.where(Instrument.district == scope.district)
        if hidden:
            stmt = stmt.where(Instrument.id.not_in(sorted(hidden)))
    return stmt


@compiles(Table, "sqlite")
def _sqlite_table_with_hint(element, compiler, **kw):
    """SQLAlchemy's SQLite compiler drops table hints; render `with_hint(table, "NOT INDEXED", "sqlite")`."""
    text = compiler.visit_table(element, **kw)
    hints = kw.get("fromhints")
    if kw.get("asfrom") and hints and element in hints:
        text += " " + hints[element]
    return text


def _scan(stmt, model, scope: Scope):
    """City-wide figures read most rows of the period: on SQLite a sequential scan is many times faster than
    following an index row by row (measured with bench/quarterly_report.py), and its planner would pick an index."""
    if scope == CITY:
        return stmt.with_hint(model.__table__, "NOT INDEXED", "sqlite")
    return stmt


def top(figures: dict, n: int = RANKED, by: str = "effective_minutes") -> dict:
    """The n largest figures by `by`, ties by key: the rankings the dashboards show (a value the public may not see,
    None, ranks as 0)."""
    return dict(sorted(figures.items(), key=lambda kv: (-(getattr(kv[1], by) or 0), str(kv[0])))[:n])


def grouped(group: str | None, scope: Scope = CITY, period: Period = ALL_TIME) -> dict:
    """Figures per group key (instrument id, unit id, district or None, "YYYY-MM"); group None: {None: totals}."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown grouping {group}")
    hidden = undisclosed_district_ids() if group == "district" or scope.district is not None else set()
    out: dict = {}

    def at(key) -> Figures:
        return out.setdefault(key, Figures())

    session = db.session
    services = _scan(_services(group, scope, period, hidden), ServiceRecord, scope)
    ledger = _scan(_ledger(group, scope, period, hidden), RevenueEntry, scope)
    rated = _scan(_ratings(group, scope, period, hidden), ServiceRating, scope)
    for key, eff, ext, n, n_ext, users, samples in session.execute(services):
        f = at(key)
        f.effective_minutes, f.external_minutes, f.services = int(eff), int(ext), int(n)
        f.external_services, f.external_users, f.samples = int(n_ext), int(users), int(samples)
    for key, paid, refunded, charged in session.execute(ledger):
        f = at(key)
        f.payments_fen, f.refunds_fen, f.charges_fen = int(paid), int(refunded), int(charged)
    for key, score_sum, count in session.execute(rated):
        f = at(key)
        f.rating_sum, f.rating_count = int(score_sum), int(count)
    if group is None:
        return {None: out.get(None, Figures())}
    return {k: v for k, v in out.items() if v != Figures()}  # SQL answers a zero row for empty totals only


def external_pairs(period: Period, unit_id: int | None = None) -> set[tuple[int, int]]:
    """(unit, external user organisation) pairs served in the period: distinct users per unit and city-wide
    from one pass, where adding per-instrument counts would count an organisation once per instrument."""
    sr = ServiceRecord
    stmt = _in_period(select(sr.unit_id, sr.organization_id).where(sr.external.is_(True)), sr.start_local_date,
                      period).distinct()
    if unit_id is not None:
        stmt = stmt.where(sr.unit_id == unit_id)
    stmt = _scan(stmt, ServiceRecord, Scope(unit_id=unit_id))
    return {(unit, org) for unit, org in db.session.execute(stmt)}


def totals(scope: Scope = CITY, period: Period = ALL_TIME) -> Figures:
    return grouped(None, scope, period)[None]


def by_month(scope: Scope, period: Period) -> list[tuple[date, Figures]]:
    """One entry per calendar month of the period, empty months included (trend charts)."""
    found = grouped("month", scope, period)
    return [(date(y, m, 1), found.get(f"{y:04d}-{m:02d}", Figures())) for y, m in period.months()]


# ---------------------------------------------------------------- national evaluation indicators


def open_instruments(scope: Scope = CITY) -> int:
    """Published instruments in the scope (the catalogue side of the 开放率 indicator)."""
    stmt = select(func.count()).select_from(Instrument).where(Instrument.status == "published")
    if scope.unit_id is not None:
        stmt = stmt.where(Instrument.owner_id == scope.unit_id)
    if scope.instrument_id is not None:
        stmt = stmt.where(Instrument.id == scope.instrument_id)
    if scope.district is not None:
        stmt = stmt.where(Instrument.district == scope.district)
        hidden = undisclosed_district_ids()
        if hidden:
            stmt = stmt.where(Instrument.id.not_in(sorted(hidden)))
    return int(db.session.scalar(stmt) or 0)


def hours_text(minutes: int, per: int = 1) -> str:
    """Minutes (optionally divided among `per`) as hours with one decimal, rounded half up once."""
    return str((Decimal(minutes) / (60 * per)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def indicators(figures: Figures, scope: Scope = CITY) -> dict:
    """The national evaluation indicators (国科办基〔2022〕93号) the platform holds data for."""
    instruments = open_instruments(scope) if scope.organization_id is None else None
    avg = figures.rating_avg
    data = {
        "effective_machine_hours": hours_text(figures.effective_minutes),
        "external_service_hours": hours_text(figures.external_minutes),
        "sharing_rate_bp": figures.sharing_rate_bp,
        "users_served": figures.external_users,
        "services": figures.services,
        "rating_avg": None if avg is None else float(avg),
        "ratings": figures.rating_count,
    }
    if instruments is not None:
        data["open_instruments"] = instruments
        data["average_effective_hours_per_open_instrument"] = hours_text(
            figures.effective_minutes, instruments) if instruments else "0.0"
    return data
