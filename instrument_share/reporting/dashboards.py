"""What each dashboard shows: figures from the statistics, names as the viewer may see them, charts and tables.

Instrument names go through the catalogue's visibility for the viewer (a defence listing's name the viewer may not
see is replaced by a neutral label), so a dashboard never shows more than the catalogue would. The public city page
shows only the public cube's cells (public.py, disclosure.py): no figure from fewer than PUBLIC_STATS_MIN_UNITS
provider units, no instrument or unit at all; what it withholds reads "—", withheld districts are shown together.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import Organization
from ..catalogue.models import Instrument
from ..catalogue.visibility import can_see, viewer_level, visible_fields
from ..core.clock import now_utc
from ..core.money import format_fen
from ..core.ttl_cache import app_cache
from ..db import db
from . import charts, public, snapshots
from . import statistics as st
from .charts import WITHHELD
from .disclosure import CITY, node_of
from .snapshots import current_periods, trend_window

TOP = st.RANKED
CACHE_ENTRIES = 512  # (a commission page is kept per viewer)


def cached(key, compute: Callable[[], dict]) -> dict:
    """City-wide dashboards read millions of rows; keep the result a few minutes per app (and per viewer): they scan
    every service of the year, so they are computed at most every DASHBOARD_CACHE_SECONDS.

    The cache lives on the Flask app, so each app (and each test's app) has its own."""
    store = app_cache("dashboard_cache", CACHE_ENTRIES)
    key = (*key, str(get_locale()))  # chart titles and labels are in the viewer's language
    # (figures from a stored snapshot bring their own time)
    return store.get_or_compute(key, public.cache_seconds(), lambda: {"computed_at": now_utc()} | compute())


def instrument_names(ids, viewer) -> dict[int, str]:
    names = {}
    for instrument in db.session.scalars(select(Instrument).where(Instrument.id.in_(list(ids)))) if ids else []:
        shown = can_see(viewer, instrument) and "name_zh" in visible_fields(
            instrument, viewer_level(viewer, instrument.owner_id))
        names[instrument.id] = instrument.name_zh if shown else _("Undisclosed instrument")
    return names


def unit_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(select(Organization.id, Organization.name)
                                   .where(Organization.id.in_(list(ids)))).all())


def hours(minutes: int) -> str:
    return _("%(h)s h", h=st.hours_text(minutes))


def percent(bp: int) -> str:
    return f"{bp / 100:.2f}%"


def shown(figures, name: str, fmt: Callable) -> str:
    """A value formatted, or "—" when the public may not see it (figures None, or the value None)."""
    value = None if figures is None else getattr(figures, name)
    return WITHHELD if value is None else fmt(value)


@dataclass
class Section:
    """A chart with the same numbers as a table: rows of (label, formatted values...)."""

    title: str
    chart: object
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _month_label(day: date) -> str:
    return day.strftime("%Y-%m")


def trend_sections(scope: st.Scope, today: date, *, revenue_title: str | None = None,
                   months: list | None = None) -> list[Section]:
    """Hours, sharing rate and revenue by month over the last twelve months (`months`: already computed; a month's
    figures None when withheld from the public)."""
    window = trend_window(today)
    months = st.by_month(scope, window) if months is None else months
    labels = [_month_label(m) for m, _f in months]
    rows = [[label, shown(f, "effective_minutes", hours), shown(f, "external_minutes", hours),
             shown(f, "sharing_rate_bp", percent), shown(f, "revenue_fen", format_fen), shown(f, "services", str)]
            for label, (_m, f) in zip(labels, months, strict=True)]

    def points(name):
        return [(label, None if f is None else getattr(f, name)) for label, (_m, f) in zip(labels, months, strict=True)]

    headers = [_("Month"), _("Effective machine hours"), _("External service hours"), _("Sharing rate"),
               _("Revenue"), _("Services")]
    desc = _("By month, %(period)s.", period=window.label)
    return [
        Section(_("Effective machine hours by month"), charts.column_chart(
            _("Effective machine hours by month"), desc, points("effective_minutes"),
            lambda m: st.hours_text(m)), headers, rows),
        Section(_("Sharing rate by month"), charts.column_chart(
            _("Sharing rate by month"), desc, points("sharing_rate_bp"), percent), [], []),
        Section(revenue_title or _("Revenue received by month"), charts.column_chart(
            revenue_title or _("Revenue received by month"), desc, points("revenue_fen"), format_fen),
                [], []),
    ]


def _ranking(title: str, figures: dict, names: dict, *, by: str = "effective_minutes", last: tuple = ()) -> Section:
    """The TOP largest, then the `last` (key, figures) pairs (the withheld districts together)."""
    ranked = [*st.top(figures, TOP, by).items(), *last]
    points = [(names.get(key, str(key)), getattr(f, by)) for key, f in ranked]
    chart = charts.bar_list(title, _("The %(n)d largest by effective machine hours.", n=TOP), points,
                            lambda m: st.hours_text(m))
    rows = [[names.get(key, str(key)), shown(f, "effective_minutes", hours), shown(f, "external_minutes", hours),
             shown(f, "sharing_rate_bp", percent), shown(f, "revenue_fen", format_fen),
             WITHHELD if f.rating_avg is None else f"{f.rating_avg} ({f.rating_count})"] for key, f in ranked]
    headers = [_("Name"), _("Effective machine hours"), _("External service hours"), _("Sharing rate"),
               _("Revenue"), _("Average rating (ratings)")]
    return Section(title, chart, headers, rows)


def unit_dashboard(unit_id: int, viewer, today: date) -> dict:
    scope = st.Scope(unit_id=unit_id)
    this_year, this_quarter = current_periods(today)
    window = trend_window(today)
    per_instrument = st.grouped("instrument", scope, window)
    names = instrument_names(per_instrument, viewer)
    return {"year": st.totals(scope, this_year), "quarter": st.totals(scope, this_quarter),
            "year_period": this_year, "quarter_period": this_quarter,
            "sections": [*trend_sections(scope, today),
                         _ranking(_("Busiest instruments (last twelve months)"), per_instrument, names)],
            "ratings": sorted(((names.get(k, str(k)), f) for k, f in per_instrument.items() if f.rating_count),
                              key=lambda nf: -nf[1].rating_count)}


def commission_dashboard(viewer, today: date) -> dict:
    return cached(("commission", today, viewer), lambda: _commission(viewer, today))


def _commission(viewer, today: date) -> dict:
    """City figures from the scheduler's snapshot when usable (reporting/snapshots.py); names for this viewer."""
    this_year, this_quarter = current_periods(today)
    city = snapshots.city_figures(today, snapshots.COMMISSION_PARTS)
    top_instruments, top_units = st.top(city.instrument, TOP), st.top(city.unit, TOP)
    return {**_as_of(city), "year": city.year, "quarter": city.quarter,
            "year_period": this_year, "quarter_period": this_quarter,
            "indicators": st.indicators(city.year),
            "sections": [*trend_sections(st.CITY, today, months=city.months), district_section(city.district),
                         _ranking(_("Top instruments (last twelve months)"), top_instruments,
                                  instrument_names(top_instruments, viewer)),
                         _ranking(_("Top units (last twelve months)"), top_units, unit_names(top_units))]}


def district_section(per_district: dict, *, title: str | None = None,
                     other: public.PublicFigures | None = None) -> Section:
    """City figures by district; undisclosed defence districts count under "Undisclosed" (statistics.py); `other`:
    the districts withheld from the public, together."""
    names = {key: key or _("Undisclosed") for key in per_district} | {public.OTHER: _("Other districts")}
    return _ranking(title or _("Districts (last twelve months)"), per_district, names,
                    last=() if other is None else ((public.OTHER, other),))


def _as_of(city: snapshots.CityFigures) -> dict:
    """The time the page states its figures are from: the snapshot's, when they come from one."""
    return {} if city.computed_at is None else {"computed_at": city.computed_at}


def city_dashboard(today: date) -> dict:
    """The public page: city totals, districts and the trend (no names of instruments or units)."""
    return cached(("city", today, public.min_units()), lambda: _city(today))


def _city(today: date) -> dict:
    """Only cells of the public cube: a withheld figure is None (the page shows "—" and says why). Districts are
    those of this calendar year, a period of the cube, so no two public figures differ by a withheld district."""
    this_year, this_quarter = current_periods(today)
    city = snapshots.city_figures(today, ("cube",))
    cube = city.cube
    year = cube.get(CITY, node_of(this_year.year))
    months = [(date(y, m, 1), cube.get(CITY, node_of(y, month=m))) for y, m in trend_window(today).months()]
    return {**_as_of(city), "year": year, "quarter": cube.get(CITY, node_of(this_year.year, this_quarter.quarter)),
            "year_period": this_year, "quarter_period": this_quarter, "min_units": cube.min_units,
            "indicators": None if year is None else year.indicators(),
            "sections": [*trend_sections(st.CITY, today, months=months),
                         district_section(cube.districts(node_of(this_year.year)),
                                          title=_("Districts (%(year)d)", year=this_year.year),
                                          other=cube.get(public.OTHER, node_of(this_year.year)))]}


def organization_dashboard(organization_id: int, viewer, today: date) -> dict:
    """An SME's spending and the services it received."""
    scope = st.Scope(organization_id=organization_id)
    this_year, this_quarter = current_periods(today)
    window = trend_window(today)
    months = st.by_month(scope, window)
    labels = [_month_label(m) for m, _f in months]
    desc = _("By month, %(period)s.", period=window.label)
    spending = Section(_("Spending by month (payments less refunds)"), charts.column_chart(
        _("Spending by month (payments less refunds)"), desc,
        [(label, f.revenue_fen) for label, (_m, f) in zip(labels, months, strict=True)], format_fen),
        [_("Month"), _("Charges"), _("Paid (less refunds)"), _("Services"), _("Hours")],
        [[label, format_fen(f.charges_fen), format_fen(f.revenue_fen), str(f.services), hours(f.effective_minutes)]
         for label, (_m, f) in zip(labels, months, strict=True)])
    services = Section(_("Services by month"), charts.column_chart(
        _("Services by month"), desc, [(label, f.services) for label, (_m, f) in zip(labels, months, strict=True)]),
        [], [])
    per_instrument = st.grouped("instrument", scope, window)
    used = _ranking(_("Instruments used (last twelve months)"), per_instrument,
                    instrument_names(per_instrument, viewer))
    return {"year": st.totals(scope, this_year), "quarter": st.totals(scope, this_quarter),
            "year_period": this_year, "quarter_period": this_quarter, "sections": [spending, services, used]}
