"""Which public statistics may be shown: the threshold rule, and the complementary cells it forces to be withheld.

Pure functions, no database. A *cell* is `(area, node)`: the area is CITY or a district key (None: the undisclosed
defence districts, statistics.py); the node a calendar period: `()` all time, `(year,)`, `(year, quarter)`,
`(year, quarter, month)`. Each cell carries the set of provider units whose records make its figures.

1. Threshold: a figure is shown only when built from at least `threshold` distinct provider units
   (`publishable`, the one place of the rule).
2. Complements: a breakdown with a shown total (a period into its quarters or months, the city of a period into
   its districts) must not give a withheld cell back as "total minus the shown cells". The withheld cells that
   have figures must be at least two and come together from at least `threshold` units; else the next smallest
   cells are withheld too (secondary suppression), and when none is left the total itself. A withheld total
   withholds all its parts, since their sum would give it back.

The grid covers the periods the public can ask for: the city down to months (the trend chart) and each district
down to quarters (docs/api.md `GET /statistics?district=&year=&quarter=`).
"""

from collections.abc import Collection, Hashable, Iterable, Mapping


class _City:
    """The area of city-wide figures (a key no district name can equal)."""

    def __repr__(self) -> str:
        return "CITY"


CITY = _City()
DEFAULT_MIN_UNITS = 3
DISTRICT_DEPTH = 2  # districts are published down to quarters; the city down to months

Node = tuple[int, ...]
Cell = tuple[Hashable, Node]


def publishable(units: Collection, threshold: int) -> bool:
    """The threshold rule: a figure may be public only when built from at least `threshold` provider units."""
    return len(units) >= max(threshold, 1)


def node_of(year: int | None, quarter: int | None = None, month: int | None = None) -> Node:
    """The node of all time, a year, a quarter or a month (the month alone implies its quarter)."""
    if year is None:
        return ()
    if month is not None:
        return (year, (month - 1) // 3 + 1, month)
    return (year,) if quarter is None else (year, quarter)


def grid(base: Mapping[tuple[Hashable, int, int], Collection[int]]) -> dict[Cell, frozenset]:
    """The units of every cell, from the units per (district key, year, month)."""
    cells: dict[Cell, set] = {}
    for (district, year, month), units in base.items():
        month_node = node_of(year, month=month)
        for depth in range(len(month_node) + 1):
            cells.setdefault((CITY, month_node[:depth]), set()).update(units)
            if depth <= DISTRICT_DEPTH:
                cells.setdefault((district, month_node[:depth]), set()).update(units)
    return {cell: frozenset(units) for cell, units in cells.items()}


def _breakdowns(cells: Iterable[Cell]) -> list[tuple[Cell, list[Cell]]]:
    """(total, parts): each area's periods into their sub-periods, and the city of each period into districts."""
    parts: dict[tuple[str, Cell], list[Cell]] = {}  # the city of a period is the total of two breakdowns
    for area, node in cells:
        if node:
            parts.setdefault(("periods", (area, node[:-1])), []).append((area, node))
        if area is not CITY:
            parts.setdefault(("districts", (CITY, node)), []).append((area, node))
    return [(total, cells) for (_kind, total), cells in sorted(parts.items(), key=repr)]


def _needs_more(withheld: list[Cell], units: Mapping[Cell, frozenset], threshold: int) -> bool:
    """Whether total minus the shown parts would single out fewer than two cells or fewer than `threshold` units."""
    if not withheld:
        return False
    together = frozenset().union(*(units[cell] for cell in withheld))
    return len(withheld) < 2 or not publishable(together, threshold)


def _complements(total: Cell, parts: list[Cell], units: Mapping[Cell, frozenset], hidden: set[Cell],
                 threshold: int) -> list[Cell]:
    """The cells to withhold besides `hidden` so that a shown total does not give a withheld part back: the
    smallest shown parts (fewest units, then by key) one by one, and the total itself when they run out."""
    withheld = [cell for cell in parts if cell in hidden]
    candidates = sorted((cell for cell in parts if cell not in hidden), key=lambda cell: (len(units[cell]), repr(cell)))
    fresh: list[Cell] = []
    while _needs_more(withheld + fresh, units, threshold):
        if not candidates:
            return [*fresh, total]
        fresh.append(candidates.pop(0))
    return fresh


def withheld_cells(units: Mapping[Cell, frozenset], threshold: int) -> set[Cell]:
    """Every cell the public may not see: below the threshold, or withheld so that no such cell can be derived.

    Cells absent from `units` have no figures and are withheld too (see `shown`). Withholding only ever grows, so
    the repeated passes end; the grid has a few thousand cells at most."""
    hidden = {cell for cell, members in units.items() if not publishable(members, threshold)}
    breakdowns = _breakdowns(units)
    changed = True
    while changed:
        changed = False
        for total, parts in breakdowns:
            if total in hidden:
                fresh = [cell for cell in parts if cell not in hidden]
            else:
                fresh = _complements(total, parts, units, hidden, threshold)
            changed = changed or bool(fresh)
            hidden.update(fresh)
    return hidden


def shown(units: Mapping[Cell, frozenset], hidden: set[Cell], area: Hashable, node: Node) -> bool:
    """Whether the public may see the figures of (area, node): a cell with figures that is not withheld."""
    cell = (area, node)
    return cell in units and cell not in hidden
