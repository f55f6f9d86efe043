"""The scheduler stores the city-wide figures; the city and commission dashboards read them while they are for today
and fresh, and compute live otherwise, with exactly the same result."""

import json
import re
from datetime import date, timedelta

from sqlalchemy import event, select

from instrument_share.catalogue.models import Instrument
from instrument_share.catalogue.visibility import viewer_for
from instrument_share.core.clock import local_today
from instrument_share.db import db
from instrument_share.jobs import JOBS
from instrument_share.reporting import dashboards, snapshots
from instrument_share.reporting import statistics as st
from instrument_share.reporting.models import StatisticsSnapshot

from ..catalogue_support import defence_unit, publish_defence
from ..factories import english, sign_in
from ..reporting_support import entry, local, rate, record, scene

JOB = next(job for job in JOBS if job.name == "statistics_snapshot")


def _world(factory):
    s = scene(factory)
    op = s.unit_a.operator
    rec = record(s.a1, s.sme1, start=local(2026, 11, 3), minutes=150, operator=op, fee_fen=123_456)
    entry(rec, "charge", 123_456, date(2026, 11, 3), user=op)
    entry(rec, "payment", 123_456, date(2026, 11, 5), user=op)
    entry(rec, "refund", 1_001, date(2026, 11, 6), user=op)
    rate(rec, 5, user=s.sme1_user)
    other = record(s.b1, s.sme2, start=local(2026, 10, 20), minutes=60, operator=s.unit_b.operator)
    rate(other, 4, user=s.sme2_user)
    unit = defence_unit(factory)
    secret = publish_defence(unit, {"name_zh": "hidden", "district": "hidden", "service_modes": "registered"},
                             name_zh="保密仪器甲", district="秘密区")
    record(secret, s.sme1, start=local(2026, 9, 10), minutes=600, operator=unit.operator)
    commission = factory.org("commission")
    s.extra["auditor"] = factory.user(commission, ("commission_auditor",), totp=True)
    s.extra["secret"] = secret
    return s


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def _parts(figures: snapshots.CityFigures) -> dict:
    return {part: getattr(figures, part) for part in snapshots.ALL_PARTS} | {"today": figures.today}


def _comparable(board: dict) -> dict:
    """A dashboard without the running chart numbers (each chart gets a fresh id) and the time it states."""
    sections = [(s.title, re.sub(r"chart\d+-", "chart-", str(s.chart)), s.headers, s.rows) for s in board["sections"]]
    return {k: v for k, v in board.items() if k not in ("sections", "computed_at")} | {"sections": sections}


def _live(app, compute):
    """The dashboard computed with no usable snapshot (rows taken away for the call, then put back)."""
    saved = [(row.key, row.computed_at, row.payload) for row in db.session.scalars(select(StatisticsSnapshot))]
    with db.transaction():
        db.session.query(StatisticsSnapshot).delete()
    with app.test_request_context():
        assert snapshots.stored(local_today()) is None
        board = compute()
    with db.transaction():
        db.session.add_all([StatisticsSnapshot(key=k, computed_at=at, payload=p) for k, at, p in saved])
    return board


def test_the_job_stores_integer_figures_without_names_equal_to_the_live_ones(app, factory, frozen_clock):
    _world(factory)
    today = local_today()
    assert JOB.work().startswith(f"{today.isoformat()} services=")
    rows = {row.key: row for row in db.session.scalars(select(StatisticsSnapshot))}
    assert set(rows) == set(snapshots.KEYS)
    assert {row.computed_at for row in rows.values()} == {frozen_clock.now}
    for row in rows.values():
        assert json.loads(row.payload)["today"] == today.isoformat()
        assert "保密仪器甲" not in row.payload and "扫描电镜A1" not in row.payload and "秘密区" not in row.payload
        assert "." not in re.sub(r'"[^"]*"', "", row.payload)  # no float anywhere: money in fen, rating sum/count
    kept = snapshots.stored(today)
    assert kept is not None and kept.computed_at == frozen_clock.now
    assert _parts(kept) == _parts(snapshots.compute(today))
    assert kept.year.revenue_fen == 123_456 - 1_001 and kept.year.effective_minutes == 810
    assert kept.year.rating_avg == st.Figures(rating_sum=9, rating_count=2).rating_avg  # 4.50, exact
    assert None in kept.district and "秘密区" not in kept.district  # the undisclosed district, as live
    window = snapshots.trend_window(today)
    for group in ("instrument", "unit"):  # only what the dashboards rank is kept
        assert getattr(kept, group) == st.top(st.grouped(group, st.CITY, window))
    assert JOB.work() == "fresh"  # the next tick within the interval leaves it alone


def test_a_ranking_is_the_largest_first_ties_by_key_and_at_most_n():
    figures = {7: st.Figures(effective_minutes=60), 3: st.Figures(effective_minutes=60),
               5: st.Figures(effective_minutes=90), 9: st.Figures(effective_minutes=10)}
    assert list(st.top(figures, 3)) == [5, 3, 7]
    assert list(st.top(figures, 3, by="revenue_fen")) == [3, 5, 7]  # all 0: by key
    assert len(st.top({n: st.Figures() for n in range(st.RANKED + 5)})) == st.RANKED


def test_dashboards_from_the_snapshot_equal_the_live_dashboards(app, factory, frozen_clock):
    s = _world(factory)
    JOB.work()
    today = local_today()
    with app.test_request_context():
        assert snapshots.stored(today) is not None
        viewer = viewer_for(db.session.merge(s.extra["auditor"]))
        city, commission = dashboards._city(today), dashboards._commission(viewer, today)
    assert city["computed_at"] == commission["computed_at"] == frozen_clock.now  # the page states the snapshot's time
    frozen_clock.move(seconds=30)
    assert _comparable(city) == _comparable(_live(app, lambda: dashboards._city(today)))
    assert _comparable(commission) == _comparable(_live(app, lambda: dashboards._commission(viewer, today)))
    names = [row[0] for section in commission["sections"] for row in section.rows]
    assert "扫描电镜A1" in names and "保密仪器甲" not in names  # names at request time, for the viewer


def test_the_pages_show_the_snapshot_until_the_job_runs_again(app, client, factory, frozen_clock):
    s = _world(factory)
    app.config["DASHBOARD_CACHE_SECONDS"] = 0  # only the stored snapshot may keep the old figures
    english(client)
    JOB.work()
    assert "13.5" in _page(client, "/dashboards/city")  # 810 minutes this year
    record(s.a2, s.sme2, start=local(2026, 11, 20), minutes=600, operator=s.unit_a.operator)
    assert "13.5" in _page(client, "/dashboards/city") and "23.5" not in _page(client, "/dashboards/city")
    auditor = client.application.test_client()
    english(auditor)
    sign_in(auditor, factory, s.extra["auditor"])
    assert "质谱仪A2" not in _page(auditor, "/dashboards/commission")  # not among the stored instruments yet
    frozen_clock.move(seconds=app.config["STATISTICS_SNAPSHOT_SECONDS"] - 1)
    assert JOB.work() == "fresh"
    assert "23.5" not in _page(client, "/dashboards/city")
    frozen_clock.move(seconds=1)
    assert JOB.work() != "fresh"
    assert "23.5" in _page(client, "/dashboards/city")
    assert "质谱仪A2" in _page(auditor, "/dashboards/commission")


def test_a_stale_snapshot_is_ignored(app, client, factory, frozen_clock):
    s = _world(factory)
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    english(client)
    JOB.work()
    record(s.a2, s.sme2, start=local(2026, 11, 20), minutes=600, operator=s.unit_a.operator)
    limit = snapshots.STALE_AFTER_INTERVALS * app.config["STATISTICS_SNAPSHOT_SECONDS"]
    frozen_clock.move(seconds=limit)
    assert snapshots.stored(local_today()) is not None and "23.5" not in _page(client, "/dashboards/city")
    frozen_clock.move(seconds=1)
    assert snapshots.stored(local_today()) is None
    assert "23.5" in _page(client, "/dashboards/city")  # live


def test_yesterdays_snapshot_is_ignored(app, client, factory, frozen_clock):
    s = _world(factory)
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    english(client)
    frozen_clock.move(hours=13, minutes=59)  # 23:59 local
    yesterday = local_today()
    JOB.work()
    record(s.a2, s.sme2, start=local(2026, 11, 20), minutes=600, operator=s.unit_a.operator)
    assert "23.5" not in _page(client, "/dashboards/city")
    frozen_clock.move(minutes=2)  # a minute past midnight: the snapshot is two minutes old but of yesterday
    assert local_today() == yesterday + timedelta(days=1)
    assert snapshots.stored(local_today()) is None
    assert "23.5" in _page(client, "/dashboards/city")
    assert JOB.work() != "fresh"  # a new local day refreshes at once
    assert snapshots.stored(local_today()) is not None


def test_district_rows_are_recomputed_when_a_district_was_withdrawn_since(app, client, factory, frozen_clock):
    s = _world(factory)
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    app.config["PUBLIC_STATS_MIN_UNITS"] = 1  # the one-unit district is public (test_statistics_disclosure.py)
    english(client)
    unit = defence_unit(factory)
    open_defence = publish_defence(unit, {"name_zh": "public", "district": "public", "service_modes": "registered"},
                                   name_zh="公开国防仪器", district="栖霞区")
    record(open_defence, s.sme1, start=local(2026, 11, 12), minutes=30, operator=unit.operator)
    JOB.work()
    assert "栖霞区" in _page(client, "/dashboards/city")
    with db.transaction():  # the confidentiality review withholds the district after the snapshot
        listing = db.session.get(Instrument, open_defence.id)
        listing.field_visibility = json.dumps(json.loads(listing.field_visibility) | {"district": "hidden"})
    assert snapshots.stored(local_today()).district is None
    assert "栖霞区" not in _page(client, "/dashboards/city")


def test_the_job_aggregates_outside_the_write_transaction(app, factory, frozen_clock):
    _world(factory)
    seen = []

    def note(conn, _cursor, statement, _params, _context, _many):
        seen.append((bool(conn.get_execution_options().get("write")), statement))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        JOB.work()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    reads = [write for write, sql in seen if "FROM service_records" in sql]
    writes = [write for write, sql in seen if re.match(r"\s*(INSERT INTO|UPDATE) statistics_snapshots", sql)]
    assert reads and not any(reads)  # every aggregation ran without the write lock
    assert writes and all(writes)  # the rows are written (one batched INSERT) inside it
    assert snapshots.stored(local_today()) is not None
