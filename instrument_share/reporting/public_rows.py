"""The rows the public cube is built from: figures, provider units and served organisations per (district key,
year, month), each measure counted as statistics.py counts it (a service in the month of its local start day, a
ledger entry in the month of its entry date, a rating with the service it rates)."""

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from ..catalogue.models import Instrument
from ..db import db
from ..ledger.models import RevenueEntry, ServiceRating, ServiceRecord
from . import statistics as st

# The figures each measure is built from; the disclosure rule counts the units of each measure on its own.
MEASURES = {
    "services": ("effective_minutes", "external_minutes", "services", "external_services", "external_users",
                 "samples"),
    "ledger": ("payments_fen", "refunds_fen", "charges_fen"),
    "ratings": ("rating_sum", "rating_count"),
}


@dataclass
class Base:
    figures: dict = field(default_factory=lambda: defaultdict(st.Figures))  # (district, year, month) → figures
    units: dict = field(default_factory=lambda: {m: defaultdict(set) for m in MEASURES})  # measure → key → units
    users: dict = field(default_factory=lambda: defaultdict(set))  # key → external user organisations


def _month(text: str) -> tuple[int, int]:
    year, month = text.split("-")
    return int(year), int(month)


def _statements(undisclosed: set[int]):
    sr, re, ra = ServiceRecord, RevenueEntry, ServiceRating
    district = st.district_key(undisclosed).label("district")
    ext = sr.external.is_(True)

    def per_unit_month(unit, month, *columns):
        keys = (district, unit.label("unit"), month.label("month"))
        return select(*keys, *columns).group_by(*keys)

    def total(kind):
        return func.sum(case((re.kind == kind, re.amount_fen), else_=0))

    services = (per_unit_month(sr.unit_id, st.month_key(sr.start_local_date), func.sum(sr.effective_minutes),
                               func.sum(case((ext, sr.effective_minutes), else_=0)), func.count(),
                               func.sum(case((ext, 1), else_=0)), func.coalesce(func.sum(sr.samples), 0))
                .select_from(sr).join(Instrument, Instrument.id == sr.instrument_id))
    ledger = (per_unit_month(re.unit_id, st.month_key(re.entry_date), total("payment"), total("refund"),
                             total("charge"))
              .select_from(re).join(sr, sr.id == re.service_record_id)
              .join(Instrument, Instrument.id == sr.instrument_id)
              .where(re.kind.in_(("payment", "refund", "charge"))))
    ratings = (per_unit_month(ra.unit_id, st.month_key(sr.start_local_date), func.sum(ra.score), func.count())
               .select_from(ra).join(sr, sr.id == ra.service_record_id)
               .join(Instrument, Instrument.id == ra.instrument_id))
    users = (select(district, sr.unit_id, st.month_key(sr.start_local_date), sr.organization_id).select_from(sr)
             .join(Instrument, Instrument.id == sr.instrument_id).where(ext).distinct())
    return services, ledger, ratings, users


def aggregate(undisclosed: set[int]) -> Base:
    """Every service, ledger entry and rating of all time, in four grouped queries."""
    services, ledger, ratings, users = (db.session.execute(stmt).all() for stmt in _statements(undisclosed))
    out = Base()
    for district, unit, month, eff, ext, n, n_ext, samples in services:
        key = (district, *_month(month))
        f = out.figures[key]
        f.effective_minutes += int(eff)
        f.external_minutes += int(ext)
        f.services += int(n)
        f.external_services += int(n_ext)
        f.samples += int(samples)
        out.units["services"][key].add(unit)
    for district, unit, month, paid, refunded, charged in ledger:
        key = (district, *_month(month))
        f = out.figures[key]
        f.payments_fen += int(paid)
        f.refunds_fen += int(refunded)
        f.charges_fen += int(charged)
        out.units["ledger"][key].add(unit)
    for district, unit, month, score_sum, count in ratings:
        key = (district, *_month(month))
        f = out.figures[key]
        f.rating_sum += int(score_sum)
        f.rating_count += int(count)
        out.units["ratings"][key].add(unit)
    counted = {(district, unit, month) for district, unit, month, *_rest in services}
    for district, unit, month, org in users:
        if (district, unit, month) in counted:  # a service made after the figures were read is not counted
            out.users[(district, *_month(month))].add(org)
    return out
