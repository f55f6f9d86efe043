"""Index keys of the search rows: the tags that let the text index decide entitlement and filters, and the sort key.

A search row carries tags for who may read it and for the filter values it shows, indexed beside its grams (SQLite
FTS5 column `tags`; PostgreSQL GIN over the tags and each gram column). So the text match, the viewer's entitlement
and the filters are one index lookup, and a total is counted in the index without reading rows: a one-character
query matches most of the catalogue, and reading tens of thousands of rows costs far more than the 50 ms budget.

Tags start with TAG, a Han character followed by Latin letters: no gram (one or two Han characters) and no Latin
word (ASCII only) has that shape, so a text query never matches a tag and a tag query never matches text.
Tags are built from the row's own columns, which hold only what the row's level shows: a filter can only match a
value the viewer may see.

The sort key orders rows newest first by (published second, instrument id, level): the first page of "newest" and of
relevance is read in key order and stops after a page, instead of sorting every match (see search_pages.py).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from math import prod

from .fields import Status, Visibility
from .grams import index_tokens

TAG = "见"
_TAGGABLE = re.compile(r"^[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+$")  # values both tokenizers keep as one token
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_LEVEL_INDEX = {Visibility.public: 0, Visibility.registered: 1, Visibility.cleared: 2, Visibility.hidden: 3}
BUCKET_BITS = 32  # the key's low bits: instrument id (30) and level (2); above them the published second


def sort_key(instrument_id: int, published_at: datetime | None, level: str) -> int:
    """Unpublished rows (no published_at) sort after every published one, as NULLS LAST does."""
    if not 0 < instrument_id < 2**30:
        raise ValueError("instrument id out of the sort key's range")
    second = 0
    if published_at is not None:
        moment = published_at if published_at.tzinfo else published_at.replace(tzinfo=UTC)
        second = max(int((moment - _EPOCH).total_seconds()), 0) + 1
    return (second << BUCKET_BITS) | (instrument_id << 2) | _LEVEL_INDEX[Visibility(level)]


def instrument_of(key: int) -> int:
    return (key >> 2) & (2**30 - 1)


def bucket_floor(key: int) -> int:
    """The smallest key of the published second `key` belongs to."""
    return (key >> BUCKET_BITS) << BUCKET_BITS


def _plain(value: str) -> str:
    return re.sub(r"[^0-9a-z]", "", value.lower())


def taggable(value: str | None) -> bool:
    return bool(value) and bool(_TAGGABLE.match(value))


@dataclass(frozen=True)
class RowFacts:
    """The columns of a search row the tags are made of (a row object, or a mapping in the migration)."""

    level: str
    status: str
    is_defence: bool
    owner_id: int
    owner_kind: str
    category_code: str | None
    district: str | None
    region_code: str | None
    service_modes: str | None
    fee_per_hour_fen: int | None
    fee_per_sample_fen: int | None
    original_value_fen: int | None


# Ranges (fee, value) as tags too: each value is tagged with its block at every level of a 16-ary tree over
# [0, 2**40) fen, and a range query is the union of the few blocks that cover it exactly. (Values from 2**40 fen,
# 11 billion yuan, on are tagged as 2**40 - 1: no instrument or fee comes near.)
RANGE_BITS, RANGE_STEP = 40, 4
RANGE_END = 1 << RANGE_BITS


def range_tags(prefix: str, value: int | None) -> list[str]:
    if value is None or value < 0:
        return []
    value = min(value, RANGE_END - 1)
    return [f"{prefix}{level}x{value >> level}" for level in range(0, RANGE_BITS + 1, RANGE_STEP)]


def cheapest_fee(row) -> int | None:
    """A fee filter asks for an hourly or a per-sample fee at most X: the smaller visible one decides."""
    fees = [f for f in (row.fee_per_hour_fen, row.fee_per_sample_fen) if f is not None]
    return min(fees) if fees else None


def row_tags(row: RowFacts, ranges: bool = True) -> str:
    """ranges=False leaves out the fee and value range tags (PostgreSQL filters ranges on the columns; see
    search_pages.Match.ranges), which are most of a row's tags: the narrower rows are, the fewer pages a count
    reads."""
    published = row.status == Status.published.value
    tags = []
    # Access: the same rule as search.entitled, term by term.
    if not row.is_defence:
        if published:
            tags.append("apub")
        tags.append(f"aown{row.owner_id}")
    elif row.level == Visibility.hidden.value:
        tags.append(f"aown{row.owner_id}")
    elif published and row.level in (Visibility.public.value, Visibility.registered.value):
        tags += ["adp" if row.level == Visibility.public.value else "adr", f"ao{row.owner_id}"]
    elif published and row.level == Visibility.cleared.value:
        tags.append(f"acl{row.owner_id}")
    # Filters, on the values this level shows.
    code = row.category_code
    if taggable(code):
        tags += [f"fp{code[:n]}" for n in range(1, min(len(code), 2) + 1)] + [f"fx{code}"]
    if taggable(row.district):
        tags.append(f"fd{row.district}")
    if taggable(row.region_code):
        tags += [f"fr{row.region_code[:n]}" for n in range(1, len(row.region_code) + 1)]
    tags.append(f"fk{_plain(row.owner_kind)}")
    tags += [f"fm{_plain(mode)}" for mode in (row.service_modes or "").split(",") if mode]
    tags += [f"fw{row.owner_id}", f"fy{int(bool(row.is_defence))}", f"fs{_plain(row.status)}"]
    if ranges:
        tags += range_tags("fe", cheapest_fee(row)) + range_tags("fv", row.original_value_fen)
    return " ".join(TAG + t for t in tags)


def name_terms(visible_name: str | None) -> str:
    """The grams of the visible name, for relevance (a match in the name first)."""
    tokens = index_tokens([visible_name or ""])
    return " ".join(t for t in (tokens.uni, tokens.bi, tokens.words) if t)


# ---- queries over the tags: a small expression tree, written out as FTS5 or as tsquery syntax


@dataclass(frozen=True)
class Expr:
    op: str  # tag | and | or | andnot
    items: tuple = ()
    value: str = ""


def tag(value: str) -> Expr:
    return Expr("tag", value=TAG + value)


def all_of(*items: Expr) -> Expr:
    return Expr("and", tuple(items))


def any_of(*items: Expr) -> Expr:
    return Expr("or", tuple(items))


def but_not(item: Expr, excluded: list[Expr]) -> Expr:
    return Expr("andnot", (item, any_of(*excluded))) if excluded else item


def to_fts5(expr: Expr) -> str:
    if expr.op == "tag":
        return f'tags : "{expr.value}"'
    if expr.op == "andnot":
        return f"({to_fts5(expr.items[0])} NOT {to_fts5(expr.items[1])})"
    joiner = " AND " if expr.op == "and" else " OR "
    return "(" + joiner.join(to_fts5(i) for i in expr.items) + ")"


def to_tsquery(expr: Expr) -> str:
    if expr.op == "tag":
        return expr.value
    if expr.op == "andnot":
        return f"({to_tsquery(expr.items[0])} & !{to_tsquery(expr.items[1])})"
    joiner = " & " if expr.op == "and" else " | "
    return "(" + joiner.join(to_tsquery(i) for i in expr.items) + ")"


def estimated_share(expr: Expr, shares: Mapping[str, float]) -> float:
    """The share of rows an expression keeps, from the share of rows holding each tag, taking tags as independent.
    A tag absent from `shares` counts as rare (0), as the statistics list only the common ones."""
    if expr.op == "tag":
        return shares.get(expr.value, 0.0)
    kept = [estimated_share(item, shares) for item in expr.items]
    if expr.op == "and":
        return prod(kept)
    if expr.op == "or":
        return 1 - prod(1 - share for share in kept)
    return kept[0] * (1 - kept[1])  # andnot


def access(full_units: list[int], cleared: list[int], base_level: str) -> Expr:
    """Rows the viewer may read, one per listing (search.entitled written over tags)."""
    base = tag("adp" if base_level == Visibility.public.value else "adr")
    terms = [tag("apub"), but_not(base, [tag(f"ao{u}") for u in full_units + cleared])]
    terms += [tag(f"acl{u}") for u in cleared]
    terms += [tag(f"aown{u}") for u in full_units]
    return any_of(*terms)


def in_range(prefix: str, low: int, high: int) -> Expr:
    """Values in [low, high): the aligned blocks covering it, largest first."""
    low, high = max(low, 0), min(high, RANGE_END)
    blocks = []
    while low < high:
        level = 0
        while (level + RANGE_STEP <= RANGE_BITS and low % (1 << (level + RANGE_STEP)) == 0
               and low + (1 << (level + RANGE_STEP)) <= high):
            level += RANGE_STEP
        blocks.append(tag(f"{prefix}{level}x{low >> level}"))
        low += 1 << level
    return any_of(*blocks) if blocks else tag("fnothing")  # a tag no row has


def filter_tags(params, large_threshold_fen: int, ranges: bool = True) -> list[Expr] | None:
    """The tag form of the exact-value filters, or None when a value cannot be a tag (the caller then filters on
    the columns; such a value matches nothing or almost nothing anyway). ranges=False leaves out the fee and value
    ranges, which the caller then filters on the columns (PostgreSQL: see search_pages.Match.ranges)."""
    tags = []
    code = params.category_code
    if code:
        if not taggable(code):
            return None
        tags.append(tag(f"fx{code}" if len(code) > 2 else f"fp{code}"))
    for prefix, value in (("fd", params.district), ("fr", params.region)):
        if value:
            if not taggable(value):
                return None
            tags.append(tag(prefix + value))
    for prefix, value in (("fk", params.owner_kind), ("fm", params.service_mode), ("fs", params.status)):
        if value:
            if _plain(value) != value.replace("_", ""):
                return None
            tags.append(tag(prefix + _plain(value)))
    if params.owner_id is not None:
        tags.append(tag(f"fw{params.owner_id}"))
    if params.defence is not None:
        tags.append(tag(f"fy{int(params.defence)}"))
    if not ranges:
        return tags
    if params.fee_max_fen is not None:
        tags.append(in_range("fe", 0, params.fee_max_fen + 1))
    if params.large is not None:
        tags.append(in_range("fv", large_threshold_fen, RANGE_END) if params.large
                    else in_range("fv", 0, large_threshold_fen))
    return tags
