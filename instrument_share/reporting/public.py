"""The statistics anyone may see: every city and district figure, built under the disclosure rule (disclosure.py).

Public figures come from one computation, the *cube*: the figures of every publishable cell (the city by all time,
year, quarter and month; each district by all time, year and quarter), and for each period the withheld districts
together ("other districts"). The rule applies to each measure on its own, since each is built from its own
records: the service figures (hours, services, users served, samples), the ledger's (payments, refunds, charges)
and the ratings; a city figure of five units whose ratings all come from one unit shows no rating.

The cube is aggregated per (district, provider unit, month), so the units that decide whether a cell is shown are
exactly the rows its figures are summed from: a record made meanwhile can neither add a unit the rule did not count
nor make a new cell appear. Withheld figures are not in the cube at all (stored as zero and marked withheld), so
nothing that stores or serves it (the scheduler's snapshot, the API, the city dashboard) can show them.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from flask import current_app

from . import disclosure
from . import statistics as st
from .disclosure import CITY, Node
from .public_rows import MEASURES, Base, aggregate

CACHE_SECONDS = 300  # computed live (no snapshot), public figures are kept this long per app, as the dashboards'
OTHER = "other"  # the area of the withheld districts of a period, together
# What each measure's figures are, with the values derived from them, in the API's and the indicators' names.
DERIVED = {"services": ("sharing_rate_bp",), "ledger": ("revenue_fen",), "ratings": ("rating_avg",)}
INDICATORS = {"services": ("effective_machine_hours", "external_service_hours", "sharing_rate_bp", "users_served",
                           "services", "average_effective_hours_per_open_instrument"),
              "ledger": (), "ratings": ("rating_avg", "ratings")}


def min_units() -> int:
    """PUBLIC_STATS_MIN_UNITS: the fewest provider units a public figure may be built from."""
    return int(current_app.config.get("PUBLIC_STATS_MIN_UNITS", disclosure.DEFAULT_MIN_UNITS))


def cache_seconds() -> int:
    return int(current_app.config.get("DASHBOARD_CACHE_SECONDS", CACHE_SECONDS))


@dataclass
class PublicFigures:
    """Figures as the public may see them: a withheld measure's values read None (and are stored as zero)."""

    figures: st.Figures
    withheld: frozenset = frozenset()

    def __getattr__(self, name: str):
        # Only called for names that are not the two fields: the figures' values and derived values.
        if name.startswith("__"):
            raise AttributeError(name)
        if any(name in (*MEASURES[m], *DERIVED[m]) for m in self.withheld):
            return None
        return getattr(self.figures, name)

    def as_json(self) -> dict:
        """The figures' JSON without the withheld measures' fields."""
        hidden = {name for m in self.withheld for name in (*MEASURES[m], *DERIVED[m])}
        return {k: v for k, v in self.figures.as_json().items() if k not in hidden}

    def indicators(self, scope: st.Scope = st.CITY) -> dict:
        hidden = {name for m in self.withheld for name in INDICATORS[m]}
        return {k: v for k, v in st.indicators(self.figures, scope).items() if k not in hidden}


@dataclass
class Cube:
    """The public cells: (area, node) → PublicFigures; area CITY, OTHER or a district key (None: undisclosed)."""

    min_units: int
    undisclosed: list[int]  # the undisclosed defence instruments the district keys assumed
    cells: dict = field(default_factory=dict)

    def get(self, area, node: Node) -> PublicFigures | None:
        """The figures of a cell, or None when the public may see none of them."""
        return self.cells.get((area, tuple(node)))

    def districts(self, node: Node) -> dict:
        """The districts of a period with figures the public may see (key → figures), without "other"."""
        return {area: f for (area, at), f in self.cells.items() if at == tuple(node) and area not in (CITY, OTHER)}

    def as_json(self) -> dict:
        return {"min_units": self.min_units, "undisclosed": self.undisclosed,
                "cells": [[_area_json(area), list(node), asdict(f.figures), sorted(f.withheld)]
                          for (area, node), f in self.cells.items()]}

    @classmethod
    def from_json(cls, data: dict) -> "Cube":
        return cls(int(data["min_units"]), list(data["undisclosed"]), {
            (_area_back(area), tuple(node)): PublicFigures(st.Figures.from_json(f), frozenset(withheld))
            for area, node, f, withheld in data["cells"]})


def _area_json(area) -> list:
    return ["city"] if area is CITY else ["other"] if area == OTHER else ["district", area]


def _area_back(data: list):
    return CITY if data[0] == "city" else OTHER if data[0] == "other" else data[1]


# ---------------------------------------------------------------- deciding


def compute(threshold: int, undisclosed: set[int]) -> Cube:
    """Aggregate every service, ledger entry and rating; decide, per measure, which cells the public may see."""
    base = aggregate(undisclosed)
    grids = {m: disclosure.grid(base.units[m]) for m in MEASURES}
    hidden = {m: disclosure.withheld_cells(grids[m], threshold) for m in MEASURES}
    sums, served = _sums(base, grids)
    _add_others(sums, served, grids, hidden)
    cells = {}
    for cell, figures in sums.items():
        has = {m for m in MEASURES if _has(cell, grids[m])}  # records of the measure, public or not
        withheld = frozenset(m for m in has if not _shown(cell, grids[m], hidden[m]))
        if has == withheld:
            continue  # nothing the public may see
        figures.external_users = len(served[cell])
        for m in withheld:  # never store what is withheld
            for name in MEASURES[m]:
                setattr(figures, name, 0)
        cells[cell] = PublicFigures(figures, withheld)
    return Cube(threshold, sorted(undisclosed), cells)


def _has(cell, grid: dict) -> bool:
    """Whether the cell has records of a measure ("other": whether the city has; its share may be zero)."""
    area, node = cell
    return (area if area != OTHER else CITY, node) in grid


def _shown(cell, grid: dict, hidden: set) -> bool:
    """A district or the city: its own verdict. "Other": shown with the city, since the rule made the withheld
    districts come together from enough units (and they are the city minus the shown districts anyway)."""
    area, node = cell
    return disclosure.shown(grid, hidden, CITY if area == OTHER else area, node)


def _sums(base: Base, grids: dict) -> tuple[dict, dict]:
    """The figures and the external user organisations of every cell any measure has."""
    sums: dict = defaultdict(st.Figures)
    served: dict = defaultdict(set)
    for key, figures in base.figures.items():
        district, year, month = key
        node = disclosure.node_of(year, month=month)
        for depth in range(len(node) + 1):
            for area in (CITY, district) if depth <= disclosure.DISTRICT_DEPTH else (CITY,):
                cell = (area, node[:depth])
                _add(sums[cell], figures, MEASURES)
                served[cell].update(base.users.get(key, ()))
    return sums, served


def _add_others(sums: dict, served: dict, grids: dict, hidden: dict) -> None:
    """Per period and measure, the districts withheld from the public, together ("other districts")."""
    for area, node in list(sums):
        if area is CITY or area == OTHER or len(node) > disclosure.DISTRICT_DEPTH:
            continue
        for m in MEASURES:
            if (area, node) in grids[m] and (area, node) in hidden[m] and (CITY, node) not in hidden[m]:
                other = sums[(OTHER, node)]
                _add(other, sums[(area, node)], {m: MEASURES[m]})
                if m == "services":
                    served[(OTHER, node)].update(served[(area, node)])


def _add(into: st.Figures, figures: st.Figures, measures: dict) -> None:
    for names in measures.values():
        for name in names:
            if name != "external_users":  # distinct organisations do not add up: counted from `served`
                setattr(into, name, getattr(into, name) + getattr(figures, name))
