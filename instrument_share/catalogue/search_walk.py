"""PostgreSQL: the first pages of a broad match, read by walking an index in the page's order over a bounded number
of rows.

Counting a match needs the GIN bitmap, which visits every matching row; a first page of a broad match (a common
character, every large instrument by value) does not: walking the rows in the page's order (the sort-key index for
newest, an order index for value, fee and name) finds a page within a few dozen rows. On a sparse match an unbounded
walk would read the whole table and test each row with the GIN condition, which parses the row's tokens again
(to_tsvector), seconds; and the planner cannot tell a sparse match from a broad one, as it does not know how rare a
gram or a tag is. So the walk reads at most WALK_ROWS rows in order (a LIMIT below the filter, where the planner
cannot push the condition), tests each with substring checks on the stored tokens first (a necessary condition,
microseconds) and then with the exact GIN condition, and gives up when that leaves the page short: the caller then
reads the page from the bitmap, which a sparse match makes cheap.
"""

from collections.abc import Sequence

from sqlalchemy import Column, and_, func, literal_column, or_, select
from sqlalchemy.sql import ColumnElement, visitors

from ..db import db
from . import search_keys as keys
from .models import InstrumentSearchRow as Row

WALK_ROWS = 2_000


def _padded(column) -> ColumnElement:
    return literal_column("' '").op("||")(column).op("||")(literal_column("' '"))


def _holds(column, tokens: str) -> ColumnElement[bool]:
    """The space-separated token string holds these consecutive tokens (no token is a part of another)."""
    return func.strpos(_padded(column), f" {tokens} ") > 0


def _tags_hold(expr: keys.Expr, tags) -> ColumnElement[bool]:
    """A necessary condition of a tag expression: the excluded side of "but not" is left to the exact test."""
    if expr.op == "tag":
        return _holds(tags, expr.value)
    if expr.op == "andnot":
        return _tags_hold(expr.items[0], tags)
    joined = and_ if expr.op == "and" else or_
    return joined(*(_tags_hold(item, tags) for item in expr.items))


def prefilter(match, cols) -> list[ColumnElement[bool]]:
    """Substring tests every row of the match passes: each gram part in its token column, and the tags.

    Latin word parts are left to the exact test: PostgreSQL's parser may split a run of letters and digits where the
    stored words do not."""
    conditions = [_tags_hold(match.tags, cols.tags)]
    for part in match.parts:
        if part.column in ("uni", "bi"):
            conditions.append(_holds(cols[part.column], " ".join(part.terms)))
    return conditions


def adapter_to(selectable):
    """Rewrites expressions over the search rows' columns onto a subquery or CTE of them (by column name: the
    general ClauseAdapter matches columns through their lineage, milliseconds per query)."""
    table = Row.__table__

    def replace(element, **_kw):
        if isinstance(element, Column) and element.table is table:
            return selectable.c[element.key]
        return None

    def adapt(expression):
        element = expression.__clause_element__() if hasattr(expression, "__clause_element__") else expression
        return visitors.replacement_traverse(element, {}, replace)

    return adapt


# What the conditions and orders of a walk read (search_pages.Match.pg_conditions, search.WALK_ORDERS).
WALKED_COLUMNS = ("sort_key", "instrument_id", "published_at", "name_sort", "original_value_fen", "fee_per_hour_fen",
                  "fee_per_sample_fen", "tags", "name_terms", "uni", "bi", "words")


def walk(match, order_by: Sequence, columns: Sequence, offset: int, limit: int) -> list | None:
    """Rows offset … offset + limit of the match in order_by (an order an index serves), or None when the first
    WALK_ROWS rows of the table in that order hold fewer matches."""
    table = Row.__table__
    walked = (select(*(table.c[name] for name in WALKED_COLUMNS)).order_by(*order_by).limit(WALK_ROWS)
              .subquery("walked"))
    on_walked = adapter_to(walked)
    conditions = [*prefilter(match, walked.c), *match.pg_conditions(walked.c)]
    stmt = (select(*(on_walked(c) for c in columns)).where(*conditions)
            .order_by(*(on_walked(o) for o in order_by)).offset(offset).limit(limit))
    rows = db.session.execute(stmt).all()
    return rows if len(rows) == limit else None
