"""Counting and paging a search in the text index (search_keys.py says why), on SQLite FTS5 and PostgreSQL GIN.

A query here is `Match`: the text parts, the viewer's access and every filter as one index expression, so the total
is counted in the index alone. The pages of "newest" and of relevance are read in sort-key order, which stops after
a page instead of sorting every match: keys order rows by published second, so the rows of the last second read are
completed and sorted exactly by (published_at, instrument_id), the order the plain SQL path gives. Sorting by name,
value or fee reads the sort columns of every match (through a covering index on SQLite).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Text, column, func, literal_column, not_, select, table, text
from sqlalchemy.sql import ColumnElement

from ..db import db
from . import search_keys as keys
from . import search_walk
from .grams import QueryPart
from .models import InstrumentSearchRow as Row

FTS = table("instrument_fts", column("rowid", BigInteger), column("instrument_fts", Text))
GRAM_COLUMNS = ("uni", "bi", "words")
# PostgreSQL conditions are built over a collection of the rows' columns: the table's, or a bounded walk's subquery
# (search_walk.py), which then needs no rewriting of a built expression (milliseconds per query).
ROW_COLUMNS = Row.__table__.c


def gram_vector(name: str, cols=ROW_COLUMNS) -> ColumnElement:
    """The GIN-indexed expression of one gram column (or of the name's grams) with the tags (migrations ea9883771fc5
    and 9c4d7e2a1f60 create the indexes)."""
    # Written with a literal space, not a bound one, so the expression is the indexed one.
    return func.to_tsvector(text("'simple'"), cols.tags.op("||")(literal_column("' '")).op("||")(cols[name]))


def tag_vector(cols=ROW_COLUMNS) -> ColumnElement:
    return func.to_tsvector(text("'simple'"), cols.tags)


def matches(vector: ColumnElement, query: str) -> ColumnElement[bool]:
    return vector.op("@@", is_comparison=True)(func.to_tsquery(text("'simple'"), query))


def _part_fts(part: QueryPart, column: str | None = None) -> str:
    name = column or part.column
    if part.prefix:
        return f"{name} : {part.terms[0]}*"
    return f'{name} : "{" ".join(part.terms)}"'


def _part_tsquery(part: QueryPart) -> str:
    return f"{part.terms[0]}:*" if part.prefix else " & ".join(part.terms)


def _phrase(column, part: QueryPart) -> list[ColumnElement[bool]]:
    """Consecutive grams as a substring of the stored gram text (see search._phrases)."""
    if part.column != "bi" or len(part.terms) < 2:
        return []
    return [func.strpos(column, " ".join(part.terms)) > 0]


@dataclass
class Match:
    parts: list[QueryPart]
    tags: keys.Expr  # access and filters
    tier: tuple[QueryPart, bool] | None = None  # (part, in the visible name or not) for relevance
    # PostgreSQL: range filters (fee, value) on the row's columns rather than as tags, built over a collection of
    # them. A range is the union of up to ~90 tree blocks, and GIN evaluates such a tsquery on every candidate
    # (200+ ms for "large"), while the heap rows are read anyway (a bitmap count visits every matching row), so a
    # column filter there is free.
    ranges: Callable[..., list[ColumnElement[bool]]] = field(default=lambda cols: [])
    # PostgreSQL: whether the match is broad enough for a page to be read by a bounded walk (search_walk.py).
    dense: bool = False
    # PostgreSQL: whether the total is counted on the columns rather than on the GIN bitmap (search.py).
    count_on_columns: bool = False
    total_key: tuple = ()  # search.indexed_match

    def in_tier(self, part: QueryPart, in_name: bool) -> "Match":
        return Match(self.parts, self.tags, (part, in_name), self.ranges, self.dense)

    # ---- SQLite: one MATCH expression; rows are read (through the covering index) only for sorting

    def fts5(self) -> str:
        clauses = [_part_fts(p) for p in self.parts] + [keys.to_fts5(self.tags)]
        expression = " AND ".join(clauses)
        if self.tier:
            part, in_name = self.tier
            name = _part_fts(part, "name_terms")
            expression = f"({expression}) AND {name}" if in_name else f"({expression}) NOT {name}"
        return expression

    # ---- PostgreSQL: GIN conditions (the tags ride with the first gram column), phrases, tier

    def pg_conditions(self, cols=ROW_COLUMNS) -> list[ColumnElement[bool]]:
        tsq = keys.to_tsquery(self.tags)
        if self.tier and self.tier[1] and self.parts == [self.tier[0]]:
            # A one-part query in the visible name: the name is searched text, so this is the whole match, on the
            # name's own GIN index. A query found in descriptions but in few names (痕量元素) leaves the tier sparse,
            # and its bitmap holds only the named rows; testing the text's GIN condition as well would parse the
            # grams of every one of them again.
            part = self.tier[0]
            return [matches(gram_vector("name_terms", cols), f"{_part_tsquery(part)} & {tsq}"),
                    *self.ranges(cols), _in_name_terms(part, cols)]
        conditions, tags_used = [], False
        for name in GRAM_COLUMNS:
            terms = [_part_tsquery(p) for p in self.parts if p.column == name]
            if terms:
                if not tags_used:
                    terms.append(tsq)
                    tags_used = True
                conditions.append(matches(gram_vector(name, cols), " & ".join(terms)))
        if not tags_used:
            conditions.append(matches(tag_vector(cols), tsq))
        conditions += self.ranges(cols)
        for part in self.parts:
            conditions += _phrase(cols.bi, part)
        if self.tier:
            part, in_name = self.tier
            named = _in_name_terms(part, cols)
            conditions.append(named if in_name else not_(named))
        return conditions


def _in_name_terms(part: QueryPart, cols=ROW_COLUMNS) -> ColumnElement[bool]:
    """The part in the name's grams, as a substring of the space-separated grams: to_tsvector here would parse the
    name of every candidate row again (tens of ms on a one-character query). Tokens are one Han character, two Han
    characters or one Latin word, so " 液相 相色 " can only be two consecutive bigrams and " 谱 " only a unigram."""
    padded = literal_column("' '").op("||")(cols.name_terms).op("||")(literal_column("' '"))
    if part.prefix:
        return func.strpos(padded, " " + part.terms[0]) > 0
    return func.strpos(padded, " " + " ".join(part.terms) + " ") > 0


def _keys_select(match: Match, *columns):
    """SELECT columns over the match, with the row (covering index) joined only where a column needs it."""
    if db.dialect == "sqlite":
        stmt = select(*columns).select_from(FTS)
        if any(getattr(c, "table", None) is Row.__table__ for c in columns):
            stmt = stmt.join(Row, Row.sort_key == FTS.c.rowid)
        return stmt.where(FTS.c.instrument_fts.op("MATCH")(match.fts5()))
    return select(*columns).select_from(Row).where(*match.pg_conditions())


def plan_serially() -> None:
    """PostgreSQL: no parallel workers for this transaction's queries. A search reads a few thousand index entries
    and heap pages; starting workers costs more than it saves, and much more on a busy machine."""
    if db.dialect == "postgresql":
        db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _key_column():
    return FTS.c.rowid if db.dialect == "sqlite" else Row.sort_key


def count(match: Match) -> int:
    return db.session.scalar(_keys_select(match, func.count())) or 0


# What the orders of sorted_keys read (search.SORTS and relevance by the visible name).
ORDER_COLUMNS = (Row.sort_key, Row.instrument_id, Row.published_at, Row.name_sort, Row.original_value_fen,
                 Row.fee_per_hour_fen)


def sorted_keys(match: Match, order_by, offset: int, limit: int, walk_order=None) -> list[int]:
    """A page in any order of the columns (sorts by name, value, fee; relevance of several parts). walk_order: the
    same order made total (ties broken by key) as an index serves it, for a bounded walk (search_walk.py)."""
    if db.dialect == "postgresql":
        if match.dense and walk_order is not None:
            walked = search_walk.walk(match, walk_order, (Row.sort_key,), offset, limit)
            if walked is not None:
                return [row[0] for row in walked]
        # The matches first (the GIN bitmap), then the order: a planner that underestimates a sparse match would
        # rather walk an order index, testing and parsing every row of the table.
        matched = _keys_select(match, *ORDER_COLUMNS).cte("matched").prefix_with("MATERIALIZED")
        on_matched = search_walk.adapter_to(matched)
        stmt = select(matched.c.sort_key).order_by(*(on_matched(o) for o in order_by)).offset(offset).limit(limit)
        return list(db.session.scalars(stmt))
    stmt = _keys_select(match, Row.sort_key).order_by(*order_by).offset(offset).limit(limit)
    return list(db.session.scalars(stmt))


def _newest_first(rows) -> list[int]:
    """Exact (published_at desc nulls last, instrument_id desc) order of (key, published_at, instrument_id) rows."""
    floor = datetime.min.replace(tzinfo=UTC)

    def order(row):
        published = row[1]
        if published is not None and published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        return (published is not None, published or floor, row[2])

    return [row[0] for row in sorted(rows, key=order, reverse=True)]


def newest_keys(match: Match, want: int) -> list[int]:
    """The first `want` keys of the match, newest first, reading keys in key order and stopping there."""
    if want <= 0:
        return []
    key = _key_column()
    columns = (key, Row.published_at, Row.instrument_id)
    head = None
    if db.dialect == "postgresql" and match.dense:
        head = search_walk.walk(match, (key.desc(),), columns, 0, want)
    if head is None:
        # PostgreSQL: "+ 0" keeps the GIN bitmap (a sparse match; see search_walk.py).
        order = key + 0 if db.dialect == "postgresql" else key
        head = db.session.execute(_keys_select(match, *columns).order_by(order.desc()).limit(want)).all()
    if len(head) == want:
        # The last second read may hold more matches than were read: read all of it, then order exactly.
        floor = keys.bucket_floor(head[-1][0])
        second = db.session.execute(_keys_select(match, *columns).where(
            key >= floor, key < floor + (1 << keys.BUCKET_BITS))).all()
        head = list({row[0]: row for row in (*head, *second)}.values())
    return _newest_first(head)[:want]


def relevance_keys(match: Match, part: QueryPart, want: int) -> list[int]:
    """Matches in the visible name first, then the others; newest first within each."""
    named = newest_keys(match.in_tier(part, True), want)
    return named + newest_keys(match.in_tier(part, False), want - len(named))
