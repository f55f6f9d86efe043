"""Search totals: remembered per search generation on PostgreSQL (catalogue/search_counts.py), always exact.

Every test runs on both databases: SQLite counts every time, PostgreSQL counts once per query and generation.
"""

import pytest
from sqlalchemy import event

from instrument_share.db import db

from .catalogue_support import call, civilian_unit, values
from .conftest import BACKEND, make_test_app


def total(client, q: str = "质谱", headers: dict | None = None) -> int:
    response = call(client, "GET", f"/instruments?q={q}", headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert len(body["items"]) == min(body["total"], 20)  # the page agrees with the total
    return body["total"]


def published(client, unit, **changes) -> int:
    created = call(client, "POST", "/instruments", unit.h("operator"), values(**changes))
    assert created.status_code == 201, created.get_json()
    instrument_id = created.get_json()["id"]
    assert call(client, "POST", f"/instruments/{instrument_id}/publish", unit.h("operator")).status_code == 200
    return instrument_id


@pytest.fixture
def counted():
    """How many totals the database was asked for (count statements over the search rows)."""
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        if "count(*)" in statement and ("instrument_search" in statement or "instrument_fts" in statement):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    yield statements
    event.remove(db.engine, "before_cursor_execute", seen)


def test_a_total_follows_every_committed_change(client, factory):
    unit = civilian_unit(factory)
    assert total(client) == 0
    first = published(client, unit, name_zh="高分辨质谱仪")
    assert total(client) == 1
    second = published(client, unit, name_zh="液相色谱质谱联用仪")
    assert total(client) == 2 and total(client, "色谱") == 1
    assert call(client, "POST", f"/instruments/{first}/suspend", unit.h("operator"),
                {"reason": "维修"}).status_code == 200
    assert total(client) == 1
    assert call(client, "POST", f"/instruments/{first}/resume", unit.h("operator")).status_code == 200
    assert total(client) == 2
    renamed = call(client, "PATCH", f"/instruments/{second}", unit.h("operator"), {"name_zh": "液相色谱仪"})
    assert renamed.status_code == 200, renamed.get_json()
    assert total(client) == 1 and total(client, "色谱") == 1


def test_a_repeated_query_is_counted_once_until_the_catalogue_changes(client, factory, counted):
    unit = civilian_unit(factory)
    published(client, unit, name_zh="高分辨质谱仪")
    counted.clear()
    assert total(client) == 1 and total(client) == 1
    assert len(counted) == (1 if BACKEND == "postgresql" else 2)
    total(client, "光谱")  # another query is counted on its own
    assert len(counted) == (2 if BACKEND == "postgresql" else 3)
    published(client, unit, name_zh="飞行时间质谱仪")
    counted.clear()
    assert total(client) == 2 and total(client) == 2
    assert len(counted) == (1 if BACKEND == "postgresql" else 2)


def test_the_viewer_is_part_of_what_is_remembered(client, factory):
    """A total counted for one viewer is never answered to another who sees more (or less)."""
    unit = civilian_unit(factory)
    published(client, unit, name_zh="高分辨质谱仪")
    draft = call(client, "POST", "/instruments", unit.h("operator"), values(name_zh="未发布质谱仪"))
    assert draft.status_code == 201
    assert total(client) == 1
    assert total(client, headers=unit.h("operator")) == 2  # the unit also finds its draft
    assert total(client) == 1


def test_a_change_another_process_commits_is_seen(app, client, factory, tmp_path):
    """Each process remembers its own totals; the generation tells them all when the search rows changed."""
    unit = civilian_unit(factory)
    published(client, unit, name_zh="高分辨质谱仪")
    assert total(client) == 1
    other = make_test_app(app.config["DATABASE_URL"], tmp_path / "other")
    with other.app_context():
        published(other.test_client(), unit, name_zh="飞行时间质谱仪")
    with app.app_context():
        assert total(client) == 2


def test_a_change_not_yet_committed_is_counted_by_its_own_transaction(app, factory):
    from instrument_share.catalogue import listings, search
    from instrument_share.catalogue.visibility import ANONYMOUS

    unit = civilian_unit(factory)
    with app.test_request_context():
        with db.transaction():
            listings.publish(actor=unit.operator, instrument=listings.create_instrument(
                actor=unit.operator, values=values(name_zh="高分辨质谱仪")))
        assert search.search(ANONYMOUS, search.SearchParams(q="质谱")).total == 1
        listings.publish(actor=unit.operator, instrument=listings.create_instrument(
            actor=unit.operator, values=values(name_zh="飞行时间质谱仪")))
        assert search.search(ANONYMOUS, search.SearchParams(q="质谱")).total == 2  # uncommitted, its own
        db.session.rollback()
        assert search.search(ANONYMOUS, search.SearchParams(q="质谱")).total == 1


def test_a_page_is_walked_for_when_the_walk_should_hold_it_twice_over(monkeypatch):
    """PostgreSQL (search._walk_pays): from DENSE_TOTAL matches; below, when the matches spread over the table would
    fill the walk's rows twice over what the page needs; never on an unknown table size."""
    from instrument_share.catalogue import search, search_counts, search_walk

    monkeypatch.setattr(search_walk, "WALK_ROWS", 2_000)
    monkeypatch.setattr(search_counts, "table_rows", lambda: 63_000)
    assert search._walk_pays(1_551, 20)  # 49 expected in the walk, 20 wanted
    assert not search._walk_pays(600, 20)  # 19 expected
    assert not search._walk_pays(1_551, 40)  # page 2: 40 wanted
    assert search._walk_pays(search.DENSE_TOTAL, 20)
    monkeypatch.setattr(search_counts, "table_rows", lambda: None)
    assert not search._walk_pays(1_999, 20)
    assert search._walk_pays(2_000, 20)


def test_the_table_size_a_walk_is_judged_by(app, client, factory, monkeypatch):
    """PostgreSQL reads the planner's row estimate (after ANALYZE, exact on a small table), once per TTL; SQLite, which
    never walks, never asks for it."""
    from sqlalchemy import func, select, text

    from instrument_share.catalogue import search_counts
    from instrument_share.catalogue.models import InstrumentSearchRow

    unit = civilian_unit(factory)
    for name in ("高分辨质谱仪", "飞行时间质谱仪", "液相色谱仪"):
        published(client, unit, name_zh=name)
    if BACKEND == "postgresql":
        db.session.execute(text("ANALYZE instrument_search"))
        rows = db.session.scalar(select(func.count()).select_from(InstrumentSearchRow))
        assert search_counts.table_rows() == rows == 3
        db.session.execute(text("DELETE FROM instrument_search"))  # not seen again within the TTL
        db.session.execute(text("ANALYZE instrument_search"))
        assert search_counts.table_rows() == 3
        db.session.rollback()
    else:
        def refused():
            raise AssertionError("SQLite asked for a table size")

        monkeypatch.setattr(search_counts, "table_rows", refused)
        assert total(client) == 2
