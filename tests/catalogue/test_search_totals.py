"""Search totals: remembered per search generation on PostgreSQL (catalogue/search_counts.py), always exact.

Every test runs on both databases: SQLite counts every time, PostgreSQL counts once per query and generation.
"""

import pytest
from sqlalchemy import event

from instrument_share.db import db

from ..catalogue_support import call, civilian_unit, values
from ..conftest import BACKEND, make_test_app


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


def test_a_page_is_walked_for_when_the_walk_should_hold_it_half_again_over(monkeypatch):
    """PostgreSQL (search._walk_pays): from DENSE_TOTAL matches; below, when the matches spread over the table would
    fill the walk's rows half again over what the page needs; never on an unknown table size."""
    from instrument_share.catalogue import search, search_counts, search_walk

    monkeypatch.setattr(search_walk, "WALK_ROWS", 2_000)
    monkeypatch.setattr(search_counts, "table_rows", lambda: 63_000)
    assert search._walk_pays(1_551, 20)  # 49 expected in the walk, 20 wanted
    assert search._walk_pays(1_025, 20)  # 32.5 expected
    assert not search._walk_pays(900, 20)  # 28.6 expected
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


def test_the_share_of_rows_a_tag_expression_keeps_is_estimated_from_each_tags_share():
    from instrument_share.catalogue.search_keys import all_of, any_of, but_not, estimated_share, tag

    shares = {"见fmexperiment": 0.5, "见fy0": 0.8, "见apub": 0.6, "见adp": 0.1}
    assert estimated_share(all_of(), shares) == 1.0  # no filter keeps every row
    assert estimated_share(all_of(tag("fmexperiment"), tag("fy0")), shares) == pytest.approx(0.4)
    assert estimated_share(any_of(tag("apub"), tag("adp")), shares) == pytest.approx(1 - 0.4 * 0.9)
    assert estimated_share(but_not(tag("fy0"), [tag("fmexperiment")]), shares) == pytest.approx(0.4)
    assert estimated_share(tag("fd江宁区"), shares) == 0.0  # not among the common tags: rare


def test_broad_queries_without_text_are_counted_on_the_columns(app, client, factory):
    """PostgreSQL counts a list whose filter tags most rows hold on the counting index, by the statistics of the
    tags; a text query on the GIN index; SQLite always in FTS5. The totals are the same either way (the page paths
    of test_catalogue_search compare them on every filter)."""
    from sqlalchemy import text

    from instrument_share.catalogue import search, search_counts
    from instrument_share.catalogue.visibility import ANONYMOUS

    unit = civilian_unit(factory)
    for name in ("高分辨质谱仪", "飞行时间质谱仪", "液相色谱仪"):
        published(client, unit, name_zh=name)
    with app.test_request_context():
        if BACKEND == "postgresql":
            db.session.execute(text("ANALYZE instrument_search"))
            assert search_counts.tag_shares()["见apub"] == pytest.approx(1.0)  # every row here is public
        broad, text_query = search.SearchParams(service_mode="machine_time"), search.SearchParams(q="质谱")
        assert search.indexed_match(ANONYMOUS, broad, []).count_on_columns is (BACKEND == "postgresql")
        assert not search.indexed_match(ANONYMOUS, text_query, search.parse_query("质谱")).count_on_columns
        assert search.search(ANONYMOUS, broad).total == 3 and search.search(ANONYMOUS, text_query).total == 2
        db.session.rollback()
