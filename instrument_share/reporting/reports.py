"""The quarterly operation report's content: one row per instrument with the indicators, and the totals.

One snapshot (three grouped queries, the distinct users and the instrument list) serves the platform report and
every unit's report, so a quarter's full set of reports costs a handful of queries however many units there are.
Totals of additive columns are the sums of the rows (so they equal the ledger to the fen); external users are
counted distinct at the unit / platform level, since one organisation may use several instruments.

Names of defence listings follow the catalogue's visibility at the "registered" level, the level of the
commission that reads every report: a field the confidentiality review did not open that far is not written.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..accounts.models import Organization
from ..accounts.roles import OrgKind
from ..catalogue.fields import LEVEL_ORDER, Visibility
from ..catalogue.models import Instrument
from ..core import spreadsheet
from ..core.clock import now_utc
from ..db import db
from . import statistics as st
from .periods import Period

REGISTERED = LEVEL_ORDER[Visibility.registered]
CENT = Decimal("0.01")

COLUMNS = [
    ("instrument_id", _l("Instrument ID")), ("instrument", _l("Instrument")), ("unit", _l("Unit")),
    ("district", _l("District")), ("category_code", _l("Category")), ("status", _l("Listing status")),
    ("services", _l("Services")), ("effective_minutes", _l("Effective minutes")),
    ("effective_hours", _l("Effective machine hours")), ("external_minutes", _l("External minutes")),
    ("external_hours", _l("External service hours")), ("sharing_rate_bp", _l("Sharing rate (basis points)")),
    ("sharing_rate_percent", _l("Sharing rate (%)")), ("external_users", _l("External users served")),
    ("samples", _l("Samples")), ("payments_fen", _l("Payments received (fen)")),
    ("refunds_fen", _l("Refunds (fen)")), ("revenue_fen", _l("Revenue (fen)")), ("revenue_yuan", _l("Revenue (yuan)")),
    ("rating_avg", _l("Average rating")), ("ratings", _l("Ratings")),
]
KEYS = [key for key, _label in COLUMNS]


@dataclass
class InstrumentInfo:
    id: int
    owner_id: int
    name: str
    unit: str
    district: str
    category_code: str
    status: str


@dataclass
class ReportData:
    period: Period
    title: str
    rows: list[tuple[InstrumentInfo, st.Figures]]
    totals: st.Figures
    generated_at: datetime = field(default_factory=now_utc)


def _shown(visibility: dict | None, name: str) -> bool:
    """Whether a field is written: always for civilian listings, at the registered level for defence ones."""
    if visibility is None:
        return True
    return LEVEL_ORDER[Visibility(visibility.get(name, Visibility.hidden.value))] <= REGISTERED


def _instruments(active_ids: set[int], unit_id: int | None = None) -> list[InstrumentInfo]:
    """Every listed instrument (drafts only when they have figures in the period), in unit and id order."""
    stmt = (select(Instrument.id, Instrument.owner_id, Instrument.name_zh, Instrument.district,
                   Instrument.category_code, Instrument.status, Instrument.field_visibility, Organization.kind,
                   Organization.name.label("unit_name"))
            .join(Organization, Organization.id == Instrument.owner_id)
            .order_by(Instrument.owner_id, Instrument.id))
    if unit_id is not None:
        stmt = stmt.where(Instrument.owner_id == unit_id)
    out = []
    for row in db.session.execute(stmt):
        if row.status == "draft" and row.id not in active_ids:
            continue
        vis = json.loads(row.field_visibility or "{}") if row.kind == OrgKind.defence_unit else None
        out.append(InstrumentInfo(
            row.id, row.owner_id, row.name_zh if _shown(vis, "name_zh") else "",
            row.unit_name if _shown(vis, "owner_id") else "", (row.district or "") if _shown(vis, "district") else "",
            row.category_code if _shown(vis, "category_code") else "", row.status))
    return out


@dataclass
class Snapshot:
    """The figures of one period for every instrument and unit, taken once."""

    period: Period
    instruments: list[InstrumentInfo]
    per_instrument: dict[int, st.Figures]
    unit_users: Counter  # distinct external user organisations per unit
    city_users: int
    unit_names: dict[int, str]

    @classmethod
    def take(cls, period: Period, unit_id: int | None = None) -> "Snapshot":
        """The whole platform, or only one unit (an on-demand unit report reads that unit's rows only)."""
        per_instrument = st.grouped("instrument", st.Scope(unit_id=unit_id), period)
        instruments = _instruments(set(per_instrument), unit_id)
        owners = {i.owner_id for i in instruments}
        names = dict(db.session.execute(select(Organization.id, Organization.name)
                                        .where(Organization.id.in_(owners))).all()) if owners else {}
        # Everything else adds up from the instruments' rows; only distinct users need their own query.
        pairs = st.external_pairs(period, unit_id)
        return cls(period, instruments, per_instrument, Counter(unit for unit, _org in pairs),
                   len({org for _unit, org in pairs}), names)

    def unit_ids(self) -> list[int]:
        return sorted(self.unit_names)

    def _rows(self, unit_id: int | None) -> list[tuple[InstrumentInfo, st.Figures]]:
        return [(i, self.per_instrument.get(i.id, st.Figures())) for i in self.instruments
                if unit_id is None or i.owner_id == unit_id]

    def platform(self) -> ReportData:
        rows = self._rows(None)
        return ReportData(self.period, str(_l("Platform")), rows, _totals(rows, self.city_users))

    def unit(self, unit_id: int) -> ReportData:
        rows = self._rows(unit_id)
        return ReportData(self.period, self.unit_names.get(unit_id, str(unit_id)), rows,
                          _totals(rows, self.unit_users[unit_id]))


def _totals(rows, external_users: int) -> st.Figures:
    total = st.Figures(external_users=external_users)
    for _info, f in rows:
        for name in ("effective_minutes", "external_minutes", "services", "external_services", "samples",
                     "payments_fen", "refunds_fen", "charges_fen", "rating_sum", "rating_count"):
            setattr(total, name, getattr(total, name) + getattr(f, name))
    return total


def _hundredths(n: int) -> Decimal:
    """Fen as yuan, basis points as percent: exact, two decimals."""
    return (Decimal(n) / 100).quantize(CENT)


def _values(info: InstrumentInfo | None, f: st.Figures) -> list:
    avg = f.rating_avg
    return [
        info.id if info else "", info.name if info else str(_l("Total")), info.unit if info else "",
        info.district if info else "", info.category_code if info else "", info.status if info else "",
        f.services, f.effective_minutes, Decimal(st.hours_text(f.effective_minutes)), f.external_minutes,
        Decimal(st.hours_text(f.external_minutes)), f.sharing_rate_bp, _hundredths(f.sharing_rate_bp),
        f.external_users, f.samples, f.payments_fen, f.refunds_fen, f.revenue_fen, _hundredths(f.revenue_fen),
        avg if avg is not None else "", f.rating_count,
    ]


def table(data: ReportData) -> list[list]:
    """Header, one row per instrument, the totals row."""
    return [[str(label) for _key, label in COLUMNS], *(_values(i, f) for i, f in data.rows),
            _values(None, data.totals)]


def to_csv(data: ReportData) -> bytes:
    return spreadsheet.csv_bytes(table(data))


def to_xlsx(data: ReportData) -> bytes:
    about = [[str(label), value] for label, value in [
        (_l("Report"), str(_l("Quarterly operation report"))), (_l("Scope"), data.title),
        (_l("Period"), data.period.label), (_l("Generated at (UTC)"), data.generated_at.strftime("%Y-%m-%d %H:%M:%S"))]]
    return spreadsheet.xlsx_bytes([(str(_l("Operation report")), table(data)), (str(_l("About")), about)])
