"""City-wide figures computed by the scheduler and stored, so the city and commission dashboards read a few rows
instead of aggregating every service record of the last twelve months in each web process.

A snapshot holds the CITY figures the two dashboards use, for the local day it was computed for: totals of this
year and this quarter, the months of the trend window, and the window grouped by district and by instrument and
unit (the ranked ones only); all of these for the commission's dashboard. For the public (the city dashboard and
`GET /api/v1/statistics` at city and district level) it stores the public cube of public.py: only the cells the
disclosure rule lets anyone see. It stores integer figures keyed by ids and district names, never instrument or
unit names: names go through the viewer's visibility at request time. The district rows and the cube depend on which
defence districts are undisclosed, so the snapshot records that set and they are used only while the set is
unchanged (the cube also only under the same PUBLIC_STATS_MIN_UNITS).

A snapshot is used when it is for today and younger than three refresh intervals; otherwise (fresh install, tests,
no scheduler) the figures are computed live, exactly as the job computes them.
"""

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..core.clock import local_today, now_utc
from ..core.ttl_cache import app_cache
from ..db import db
from . import public
from . import statistics as st
from .models import StatisticsSnapshot
from .periods import Period, months_back, period, quarter_of

TREND_MONTHS = 12
DEFAULT_SECONDS = 300
STALE_AFTER_INTERVALS = 3
LOCK_KEY = 0x53544154  # "STAT": one writer of the snapshot rows at a time on PostgreSQL

# What is stored, one row each (all written in one transaction with one computed_at).
YEAR, QUARTER, MONTHS = "city.totals.year", "city.totals.quarter", "city.by_month"
GROUPS = {"district": "city.grouped.district", "instrument": "city.grouped.instrument", "unit": "city.grouped.unit"}
PUBLIC = "public.cube"
PART_KEYS = {"year": YEAR, "quarter": QUARTER, "months": MONTHS, **GROUPS, "cube": PUBLIC}
KEYS = tuple(PART_KEYS.values())
ALL_PARTS = tuple(PART_KEYS)
COMMISSION_PARTS = tuple(part for part in ALL_PARTS if part != "cube")


def current_periods(today: date) -> tuple[Period, Period]:
    year, quarter = quarter_of(today)
    return period(year), period(year, quarter)


def trend_window(today: date) -> Period:
    return months_back(today, TREND_MONTHS)


@dataclass
class CityFigures:
    """The CITY figures of one local day; a part is None when it was not asked for (live computation)."""

    today: date
    year: st.Figures | None = None
    quarter: st.Figures | None = None
    months: list[tuple[date, st.Figures]] | None = None
    district: dict | None = None
    instrument: dict | None = None
    unit: dict | None = None
    hidden: list[int] = field(default_factory=list)  # undisclosed defence instruments the district rows assumed
    cube: public.Cube | None = None  # what anyone may see (city dashboard, public API)
    computed_at: datetime | None = None  # None: computed live for this request


def compute(today: date, parts=ALL_PARTS) -> CityFigures:
    """The figures, aggregated now (reads only: the job runs this before its write transaction)."""
    this_year, this_quarter = current_periods(today)
    window = trend_window(today)
    out = CityFigures(today)
    if "year" in parts:
        out.year = st.totals(st.CITY, this_year)
    if "quarter" in parts:
        out.quarter = st.totals(st.CITY, this_quarter)
    if "months" in parts:
        out.months = st.by_month(st.CITY, window)
    if "district" in parts:
        out.hidden = sorted(st.undisclosed_district_ids())
    for group in GROUPS:
        if group in parts:
            figures = st.grouped(group, st.CITY, window)
            # The dashboards rank instruments and units: only the ranked ones are kept (a city's thousands of
            # instruments would make the snapshot megabytes, read on every commission page).
            setattr(out, group, figures if group == "district" else st.top(figures))
    if "cube" in parts:
        out.cube = public.compute(public.min_units(), st.undisclosed_district_ids())
    return out


# ---------------------------------------------------------------- storing


def _raw(figures: st.Figures) -> dict:
    """The integer fields only (money in fen, rating sum and count): nothing derived, no float."""
    return asdict(figures)


def _rows(figures: CityFigures) -> dict[str, dict]:
    day = {"today": figures.today.isoformat()}
    rows = {YEAR: day | {"figures": _raw(figures.year)},
            QUARTER: day | {"figures": _raw(figures.quarter)},
            MONTHS: day | {"months": [[m.isoformat(), _raw(f)] for m, f in figures.months]}}
    for group, key in GROUPS.items():
        rows[key] = day | {"groups": [[k, _raw(f)] for k, f in getattr(figures, group).items()]}
    rows[GROUPS["district"]]["hidden"] = figures.hidden
    rows[PUBLIC] = day | {"cube": figures.cube.as_json()}
    return rows


def store(figures: CityFigures, computed_at: datetime) -> None:
    """Replace the stored rows, in the caller's write transaction."""
    db.lock(LOCK_KEY)
    existing = {row.key: row for row in db.session.scalars(
        select(StatisticsSnapshot).where(StatisticsSnapshot.key.in_(KEYS)).with_for_update())}
    for key, payload in _rows(figures).items():
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        row = existing.get(key)
        if row is None:
            db.session.add(StatisticsSnapshot(key=key, computed_at=computed_at, payload=text))
        else:
            row.computed_at, row.payload = computed_at, text


def refresh(today: date | None = None) -> CityFigures:
    """Aggregate (no write lock held: on SQLite other writers go on meanwhile), then store in a short transaction."""
    today = today or local_today()
    started = now_utc()
    figures = compute(today)
    figures.computed_at = started  # the data is at least as new as the moment the aggregation began
    with db.transaction():
        store(figures, started)
    return figures


def interval_seconds() -> int:
    return int(current_app.config.get("STATISTICS_SNAPSHOT_SECONDS", DEFAULT_SECONDS))


def refresh_due() -> str:
    """The scheduled job (ticks every minute): refresh when the stored snapshot is not for today or is at least one
    interval old. Idempotent and self-contained, so it runs unclaimed."""
    today = local_today()
    row = db.session.execute(select(StatisticsSnapshot.computed_at, StatisticsSnapshot.payload)
                             .where(StatisticsSnapshot.key == YEAR)).first()
    db.session.rollback()  # end the read transaction
    if (row is not None and json.loads(row.payload)["today"] == today.isoformat()
            and now_utc() - row.computed_at < timedelta(seconds=interval_seconds())):
        return "fresh"
    figures = refresh(today)
    return f"{today.isoformat()} services={figures.year.services}"


# ---------------------------------------------------------------- reading


def _group_key(group: str, key):
    return key if group == "district" else int(key)  # district: a name or None (undisclosed)


def stored(today: date, parts=ALL_PARTS) -> CityFigures | None:
    """The stored parts when all are there, from one run, for `today` and not stale; None otherwise. District rows
    computed under another set of undisclosed districts are dropped (None), so the caller computes them live."""
    wanted = {PART_KEYS[part]: part for part in parts}
    rows = {row.key: row for row in db.session.scalars(
        select(StatisticsSnapshot).where(StatisticsSnapshot.key.in_(list(wanted))))}
    if set(rows) != set(wanted) or len({row.computed_at for row in rows.values()}) != 1:
        return None
    computed_at = next(iter(rows.values())).computed_at
    if now_utc() - computed_at > timedelta(seconds=STALE_AFTER_INTERVALS * interval_seconds()):
        return None
    data = {wanted[key]: json.loads(row.payload) for key, row in rows.items()}
    if any(payload.get("today") != today.isoformat() for payload in data.values()):
        return None
    out = CityFigures(today, computed_at=computed_at)
    for part, payload in data.items():
        if part in ("year", "quarter"):
            setattr(out, part, st.Figures.from_json(payload["figures"]))
        elif part == "months":
            out.months = [(date.fromisoformat(m), st.Figures.from_json(f)) for m, f in payload["months"]]
        elif part == "cube":
            out.cube = public.Cube.from_json(payload["cube"])
        else:
            setattr(out, part, {_group_key(part, k): st.Figures.from_json(f) for k, f in payload["groups"]})
    undisclosed = sorted(st.undisclosed_district_ids()) if {"district", "cube"} & set(data) else []
    if "district" in data:
        out.hidden = data["district"]["hidden"]
        if undisclosed != out.hidden:
            out.district = None  # a confidentiality decision since: never show districts it now withholds
    if out.cube is not None and (out.cube.undisclosed != undisclosed or out.cube.min_units != public.min_units()):
        out.cube = None  # likewise, or another threshold set since
    return out


def city_figures(today: date, parts=ALL_PARTS) -> CityFigures:
    """The parts asked for: from the snapshot when usable, the missing ones computed live."""
    found = stored(today, parts)
    if found is None:
        return compute(today, parts)
    missing = [part for part in parts if getattr(found, part) is None]
    if missing:
        live = compute(today, missing)
        for part in missing:
            setattr(found, part, getattr(live, part))
    return found


def public_cube(today: date) -> public.Cube:
    """The public cells: from the snapshot when usable, else computed live and kept a few minutes per app (a
    computed cube is one consistent picture, so an older one shows older figures, never more)."""
    found = stored(today, ("cube",))
    if found is not None and found.cube is not None:
        return found.cube
    threshold, undisclosed = public.min_units(), st.undisclosed_district_ids()
    return app_cache("public_cube", 8).get_or_compute(
        (threshold, tuple(sorted(undisclosed))), public.cache_seconds(), lambda: public.compute(threshold, undisclosed))
