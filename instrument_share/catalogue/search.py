"""Keep each listing's search rows up to date and answer catalogue queries for a viewer.

The rows (models.InstrumentSearchRow) carry only what each visibility level shows, so the text match, every filter,
the sort key and the facet counts of a query are computed on what that viewer may see, and nothing else.
"""

from dataclasses import dataclass
from functools import partial

from sqlalchemy import Integer, and_, case, column, delete, func, literal, or_, select, text
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.sql import ColumnElement

from ..db import db
from . import search_counts, search_keys, search_pages, search_walk
from .fields import SEARCHED_FIELDS, Status, Visibility
from .grams import QueryPart, index_tokens, parse_query
from .models import Instrument, InstrumentSearchRow
from .visibility import Viewer, large_threshold_fen, visible_fields

Row = InstrumentSearchRow
DEFENCE_LEVELS = (Visibility.public, Visibility.registered, Visibility.cleared, Visibility.hidden)


def _row(instrument: Instrument, level: Visibility) -> Row:
    shown = visible_fields(instrument, level)
    texts = [str(getattr(instrument, name) or "") for name in SEARCHED_FIELDS if name in shown]
    tokens = index_tokens(texts)

    def pick(name):
        return getattr(instrument, name) if name in shown else None

    row = Row(instrument_id=instrument.id, level=level.value, owner_id=instrument.owner_id,
              status=instrument.status, is_defence=instrument.is_defence, owner_kind=instrument.owner.kind,
              region_code=instrument.owner.region_code if "owner_id" in shown else None,
              name_sort=pick("name_zh"), category_code=pick("category_code"), district=pick("district"),
              service_modes=("," + instrument.service_modes + ",") if "service_modes" in shown else None,
              fee_per_hour_fen=pick("fee_per_hour_fen"), fee_per_sample_fen=pick("fee_per_sample_fen"),
              original_value_fen=pick("original_value_fen"), published_at=instrument.published_at,
              uni=tokens.uni, bi=tokens.bi, words=tokens.words,
              sort_key=search_keys.sort_key(instrument.id, instrument.published_at, level.value))
    # Made of the row's own (already visibility-filtered) columns only.
    row.tags = search_keys.row_tags(row, ranges=db.dialect != "postgresql")
    row.name_terms = search_keys.name_terms(row.name_sort)
    return row


def _levels(instrument: Instrument) -> tuple[Visibility, ...]:
    if not instrument.is_defence:
        return (Visibility.public,)
    if instrument.status == Status.published:
        return DEFENCE_LEVELS
    return (Visibility.hidden,)  # unpublished defence listings exist only for the unit and its approvers


def reindex(instrument: Instrument) -> None:
    """Rebuild the listing's rows in the caller's transaction (after every change of content, status or review)."""
    reindex_many([instrument])


def reindex_many(instruments: list[Instrument]) -> None:
    """reindex for many listings with one delete and one flush (bulk import)."""
    db.session.execute(delete(Row).where(Row.instrument_id.in_([i.id for i in instruments])))
    db.session.add_all([_row(instrument, level) for instrument in instruments for level in _levels(instrument)])
    db.session.flush()
    search_counts.rows_changed()


def entitled(viewer: Viewer) -> ColumnElement[bool]:
    """Exactly one row per listing the viewer may see: the row of the viewer's level for that listing.

    Written as a disjunction of (level, status, …) terms rather than a computed level, so the (level, status) index
    can serve it: published civilian rows; published defence rows of the viewer's base level, of units that did not
    clear the viewer and are not its own; published rows of the cleared level of units that cleared it; and every
    row of its own units (civilian rows of any status, defence rows of the hidden level).
    """
    full = sorted(viewer.full_units)
    cleared = sorted(viewer.cleared_by - viewer.full_units)
    published = Row.status == Status.published.value
    base = Visibility.registered.value if viewer.registered else Visibility.public.value
    terms = [and_(Row.level == Visibility.public.value, published, Row.is_defence.is_(False))]
    others = [Row.owner_id.not_in(full + cleared)] if full or cleared else []
    terms.append(and_(Row.level == base, published, Row.is_defence.is_(True), *others))
    if cleared:
        terms.append(and_(Row.level == Visibility.cleared.value, published, Row.is_defence.is_(True),
                          Row.owner_id.in_(cleared)))
    if full:
        terms.append(and_(Row.owner_id.in_(full), or_(
            and_(Row.level == Visibility.public.value, Row.is_defence.is_(False)),
            and_(Row.level == Visibility.hidden.value, Row.is_defence.is_(True)))))
    return or_(*terms)


def _fts_sqlite(parts: list[QueryPart]) -> str:
    clauses = []
    for part in parts:
        if part.prefix:
            clauses.append(f"{part.column} : {part.terms[0]}*")
        else:
            clauses.append(f'{part.column} : "{" ".join(part.terms)}"')
    return " AND ".join(clauses)


def _tsquery(parts: list[QueryPart], column: str) -> str | None:
    """The GIN-indexable part of the PostgreSQL query: every gram must occur (their order is checked by
    _phrases, on the stored grams, since a phrase query would make PostgreSQL parse each candidate's text again)."""
    terms = []
    for part in parts:
        if part.column != column:
            continue
        terms.append(f"{part.terms[0]}:*" if part.prefix else " & ".join(part.terms))
    return " & ".join(terms) or None


def _phrases(parts: list[QueryPart]) -> list[ColumnElement[bool]]:
    """Consecutive grams as a substring of the stored bigram text: tokens there are exactly two characters (or the
    run break) separated by one space, so "液相 相色 色谱" can only occur as three consecutive grams of one run."""
    return [func.strpos(Row.bi, " ".join(part.terms)) > 0 for part in parts
            if part.column == "bi" and len(part.terms) > 1]


def _needles(parts: list[QueryPart]) -> list[str]:
    """The text each query part stands for, normalised as the index is (质谱仪 for the grams 质谱 谱仪)."""
    return [part.terms[0] + "".join(t[1:] for t in part.terms[1:]) if part.column == "bi" else part.terms[0]
            for part in parts]


def text_condition(parts: list[QueryPart]) -> ColumnElement[bool] | None:
    if not parts:
        return None
    if db.dialect == "sqlite":
        matching = text("SELECT rowid FROM instrument_fts WHERE instrument_fts MATCH :fts").bindparams(
            fts=_fts_sqlite(parts)).columns(column("rowid", Integer))
        return Row.sort_key.in_(matching)  # the FTS5 rowid is the sort key
    conditions = []
    for name in ("uni", "bi", "words"):
        query = _tsquery(parts, name)
        if query:  # on the indexed expression (tags never match a gram)
            conditions.append(search_pages.matches(search_pages.gram_vector(name), query))
    return and_(*conditions, *_phrases(parts))


@dataclass
class SearchParams:
    q: str = ""
    category_code: str | None = None
    district: str | None = None
    region: str | None = None  # owner region prefix: 3201 Nanjing, 32 Jiangsu, 31 Shanghai …
    owner_kind: str | None = None
    owner_id: int | None = None
    service_mode: str | None = None
    fee_max_fen: int | None = None
    large: bool | None = None
    defence: bool | None = None
    status: str | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20


SORTS = {
    "newest": (Row.published_at.desc().nulls_last(), Row.instrument_id.desc()),
    "name": (Row.name_sort.asc().nulls_last(), Row.instrument_id),
    "value": (Row.original_value_fen.desc().nulls_last(), Row.instrument_id),
    "fee": (Row.fee_per_hour_fen.asc().nulls_last(), Row.instrument_id),
}
# The same orders made total by the key, as PostgreSQL's order indexes serve them (migration 5b8e2f41c7d3).
WALK_ORDERS = {name: (*order, Row.sort_key) for name, order in SORTS.items() if name != "newest"}


def _range_filters(params: SearchParams, beside_gin: bool = False, cols=Row.__table__.c) -> list[ColumnElement[bool]]:
    """Fee and value ranges on the row's columns (which hold only what the row's level shows). beside_gin: tested on
    the rows the GIN bitmap finds ("+ 0" keeps the planner from scanning the sorting index instead and parsing every
    row's tags there)."""
    def col(c):
        return c + 0 if beside_gin else c

    hourly, sample = col(cols.fee_per_hour_fen), col(cols.fee_per_sample_fen)
    value = col(cols.original_value_fen)
    conditions = []
    if params.fee_max_fen is not None:
        conditions.append(or_(hourly <= params.fee_max_fen, sample <= params.fee_max_fen))
    if params.large is not None:
        threshold = large_threshold_fen()
        conditions.append(value >= threshold if params.large else value < threshold)
    return conditions


def _filters(params: SearchParams) -> list[ColumnElement[bool]]:
    conditions = []
    if params.category_code:
        code = params.category_code
        conditions.append(Row.category_code == code if len(code) > 2
                          else Row.category_code.startswith(code, autoescape=True))
    if params.district:
        conditions.append(Row.district == params.district)
    if params.region:
        conditions.append(Row.region_code.startswith(params.region, autoescape=True))
    if params.owner_kind:
        conditions.append(Row.owner_kind == params.owner_kind)
    if params.owner_id is not None:
        conditions.append(Row.owner_id == params.owner_id)
    if params.service_mode:
        conditions.append(Row.service_modes.contains("," + params.service_mode + ",", autoescape=True))
    conditions += _range_filters(params)
    if params.defence is not None:
        conditions.append(Row.is_defence.is_(params.defence))
    if params.status:
        conditions.append(Row.status == params.status)
    return conditions


def load_instruments(ids: list[int], viewer: Viewer) -> list[Instrument]:
    """The listings of a result page, in its order, with what presenting them to `viewer` reads loaded in one or two
    queries rather than per listing: the owner (which decides a listing's kind), and the revisions of the listings
    whose pending revision the viewer sees (its own unit's)."""
    if not ids:
        return []
    found = {i.id: i for i in db.session.scalars(
        select(Instrument).where(Instrument.id.in_(ids)).options(joinedload(Instrument.owner)))}
    own = [i.id for i in found.values() if i.owner_id in viewer.full_units]
    if own:  # (fills the revisions of the listings already loaded)
        db.session.scalars(select(Instrument).where(Instrument.id.in_(own)).options(
            selectinload(Instrument.revisions))).all()
    return [found[i] for i in ids if i in found]


@dataclass
class SearchResult:
    instrument_ids: list[int]  # the page, in order
    total: int
    facets: dict[str, list[tuple[str, int]]]


def _in_name(parts: list[QueryPart]) -> ColumnElement:
    """How many of the query's parts the visible name holds (relevance of a query of several parts)."""
    visible_name = func.lower(func.coalesce(Row.name_sort, ""))
    return sum((case((visible_name.contains(needle, autoescape=True), 1), else_=0) for needle in _needles(parts)),
               start=literal(0))


def indexed_match(viewer: Viewer, params: SearchParams, parts: list[QueryPart]) -> search_pages.Match | None:
    """The query as one index lookup, or None when a filter value cannot be a tag (then plain SQL answers)."""
    postgres = db.dialect == "postgresql"
    tags = search_keys.filter_tags(params, large_threshold_fen(), ranges=not postgres)
    if tags is None:
        return None
    full = sorted(viewer.full_units)
    cleared = sorted(viewer.cleared_by - viewer.full_units)
    base = Visibility.registered.value if viewer.registered else Visibility.public.value
    access = search_keys.access(full, cleared, base)
    match = search_pages.Match(parts, search_keys.all_of(access, *tags))
    if postgres:
        match.ranges = partial(_range_filters, params, True)
        match.count_on_columns = not parts and search_keys.estimated_share(
            search_keys.all_of(*tags), search_counts.tag_shares()) >= COLUMN_COUNT_SHARE
    # What the match is made of, in index terms: the key of its remembered total (search_counts.py).
    match.total_key = (tuple(parts), search_keys.to_tsquery(match.tags), params.fee_max_fen if postgres else None,
                       params.large if postgres else None, large_threshold_fen())
    return match


# PostgreSQL: a query without text whose filter tags are held by at least this share of all search rows (by the
# statistics, search_counts.tag_shares) is counted on the columns: an index-only scan of the counting index
# (migration b84d1e6f3a57) reads every row the viewer may see, 10-15 ms at 50,000 listings whatever the filters.
# The GIN bitmap decodes the posting list of every tag and visits the heap page of every row they match (fee and
# value ranges are tested there, so they do not narrow it): 2-5 ms for a district, 15-30 ms for a common service
# mode or none. Measured over bench/catalogue_search.py's filters, the two cross near 0.2.
COLUMN_COUNT_SHARE = 0.2


# PostgreSQL: when a page is first looked for by a bounded walk (search_walk.py). From DENSE_TOTAL matches; or when,
# spread evenly over the table's rows, the matches would fill the walk's rows WALK_MARGIN times over what the page
# needs (a filtered list of 1,500 of 63,000 rows: 36 ms by the bitmap, 3 ms by the walk). Half again is enough: a
# walk expecting 30 matches for a page of 20 finds them nearly always, and one that comes back short costs 1-2 ms
# before the bitmap answers, which costs 10-15 ms for such a match.
DENSE_TOTAL = 2_000
WALK_MARGIN = 1.5


def _walk_pays(total: int, want: int) -> bool:
    if total >= DENSE_TOTAL:
        return True
    rows = search_counts.table_rows()
    return rows is not None and total * search_walk.WALK_ROWS >= WALK_MARGIN * want * rows


def _indexed_page(match: search_pages.Match, params: SearchParams, parts: list[QueryPart], total: int) -> list[int]:
    offset, want = (params.page - 1) * params.per_page, params.page * params.per_page
    match.dense = db.dialect == "postgresql" and _walk_pays(total, want)
    if params.sort == "relevance" and len(parts) == 1:
        return search_pages.relevance_keys(match, parts[0], want)[offset:]
    if params.sort in ("newest", "relevance") or params.sort not in SORTS:  # relevance without a query is newest
        if params.sort == "relevance" and parts:
            order = (_in_name(parts).desc(), *SORTS["newest"])
            return search_pages.sorted_keys(match, order, offset, params.per_page)
        return search_pages.newest_keys(match, want)[offset:]
    return search_pages.sorted_keys(match, SORTS[params.sort], offset, params.per_page, WALK_ORDERS[params.sort])


def _plain_where(viewer: Viewer, params: SearchParams, parts: list[QueryPart]) -> list[ColumnElement[bool]]:
    """The query in plain SQL over the rows' columns (odd filter values, facets)."""
    where = [entitled(viewer), *_filters(params)]
    matched = text_condition(parts)
    if matched is not None:
        where.append(matched)
    return where


def _count_rows(where: list[ColumnElement[bool]]) -> int:
    return db.session.scalar(select(func.count()).select_from(Row).where(*where)) or 0


def search(viewer: Viewer, params: SearchParams, *, facets: bool = False) -> SearchResult:
    parts = parse_query(params.q)
    indexed = indexed_match(viewer, params, parts)
    where = _plain_where(viewer, params, parts) if indexed is None or facets else []
    search_pages.plan_serially()
    if indexed is not None:
        def count() -> int:  # (only when the total is not remembered)
            if indexed.count_on_columns:
                return _count_rows(where or _plain_where(viewer, params, parts))
            return search_pages.count(indexed)

        total = search_counts.total(indexed.total_key, count)
        found = _indexed_page(indexed, params, parts, total)
    else:
        # The page is chosen on the narrow columns, then its rows are read: sorting whole rows, which carry the
        # searched text and its grams, costs far more than sorting keys.
        stmt = select(Row.sort_key).where(*where)
        if params.sort == "relevance" and parts:
            # Listings whose visible name holds more of the query's parts first, then the newest (ranking on the
            # grams, bm25 or ts_rank, costs far too much when a common character matches most of the catalogue).
            stmt = stmt.order_by(_in_name(parts).desc(), *SORTS["newest"])
        else:
            stmt = stmt.order_by(*SORTS.get(params.sort, SORTS["newest"]))
        total = _count_rows(where)
        found = list(db.session.scalars(stmt.limit(params.per_page).offset((params.page - 1) * params.per_page)))
    result = SearchResult([search_keys.instrument_of(key) for key in found], total, {})
    if facets:
        for name, key in (("category", func.substr(Row.category_code, 1, 2)), ("district", Row.district)):
            counted = db.session.execute(select(key, func.count()).where(*where, key.is_not(None))
                                         .group_by(key).order_by(func.count().desc()).limit(30))
            result.facets[name] = [(value, count) for value, count in counted]
    return result
