"""PostgreSQL: the totals of catalogue queries, remembered until the search rows change.

A total is counted on the GIN bitmap, which visits every matching row: 15-40 ms for a common character over a
catalogue of 50,000 listings, most of a page's time budget, while the same few queries (质谱, 光谱, a district) are
asked again and again between two changes of the catalogue. So each process keeps the totals it counted (as search
engines keep a request cache), keyed by the query in index terms (text parts, the viewer's access and the filters)
and by the search generation: a PostgreSQL sequence advanced after every commit that changed search rows, read by
each search. Advancing it after the commit, not inside the transaction, is what makes this safe: a reader that
counted before the commit stored its total under the old generation, which no later reader asks for. The sequence
is not transactional and takes no lock, so catalogue writers never wait on one another for it. Entries also expire
after TTL_SECONDS, which bounds staleness should a process die between a commit and the advance.

SQLite counts in the FTS5 index within a few milliseconds and is not cached.
"""

import logging
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..core.ttl_cache import app_cache
from ..db import db

# The sequence (migration 9c4d7e2a1f60): read as its last value and whether that was handed out.
READ_GENERATION = text("SELECT last_value, is_called FROM search_generation")
ADVANCE_GENERATION = text("SELECT nextval('search_generation')")
# The planner's estimate of the search rows, as of the last (auto)vacuum or analyze; -1 before the first.
TABLE_ROWS = text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'instrument_search'::regclass")
# The share of search rows holding each common tag: PostgreSQL's statistics of the tags' GIN expression (the
# last three frequencies are the minimum, the maximum and the null share).
TAG_SHARES = text("SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                  "WHERE schemaname = current_schema() AND tablename = 'ix_instrument_search_tags_tsv'")
TTL_SECONDS = 60
MAX_ENTRIES = 4096
_CHANGED = "search_rows_changed"
logger = logging.getLogger(__name__)


def rows_changed() -> None:
    """Called wherever search rows are written: the generation advances once this transaction commits."""
    db.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _advance_generation(session: Session) -> None:
    bind = session.bind
    if not session.info.pop(_CHANGED, False) or bind is None or bind.dialect.name != "postgresql":
        return
    try:
        with bind.engine.connect() as conn:
            conn.execute(ADVANCE_GENERATION)
            conn.commit()
    except SQLAlchemyError:
        # The change is committed; failing the request now would report it as lost. Remembered totals then
        # expire within TTL_SECONDS.
        logger.exception("search generation not advanced")


@event.listens_for(Session, "after_rollback")
def _forget_change(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def total(key: tuple, count: Callable[[], int]) -> int:
    """The total of the query `key` names, counted by `count` unless already counted in this generation."""
    if db.dialect != "postgresql" or db.session.info.get(_CHANGED):
        return count()  # (this transaction's own changes are in no generation yet)
    generation = tuple(db.session.execute(READ_GENERATION).one())
    return app_cache("search_totals", MAX_ENTRIES).get_or_compute((generation, key), TTL_SECONDS, count)


def table_rows() -> int | None:
    """About how many search rows there are (None when not yet known), read at most once a TTL per process."""
    rows = app_cache("search_table_rows", 1).get_or_compute("rows", TTL_SECONDS,
                                                           lambda: db.session.scalar(TABLE_ROWS))
    return rows if rows is not None and rows > 0 else None


def tag_shares() -> dict[str, float]:
    """The share of search rows holding each common tag, as of the last (auto)analyze; read at most once a TTL per
    process. Empty before the first analyze."""
    def read() -> dict[str, float]:
        row = db.session.execute(TAG_SHARES).first()
        return dict(zip(row[0], row[1], strict=False)) if row is not None and row[0] else {}

    return app_cache("search_tag_shares", 1).get_or_compute("shares", TTL_SECONDS, read)
