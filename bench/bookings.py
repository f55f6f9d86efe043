"""Benchmark bookings: creations per second over HTTP, and a one-week availability query among 1,000,000 bookings.

Usage:
    .venv/bin/python bench/bookings.py [--creations 400] [--concurrency 8] [--workers 4] [--servers 1]
        [--bookings 1000000] [--instruments 2000] [--queries 200] [--keep]

Database: DATABASE_URL when it names PostgreSQL (an empty database you own: its schema is dropped and migrated
afresh); otherwise a new SQLite file in a temporary directory.

1. Creations: the real application under gunicorn (--servers × --workers), --concurrency clients each with its own
   bearer token book distinct, non-overlapping half-hour slots of one instrument (all must answer 201).
2. Availability: --bookings rows are bulk-inserted with one INSERT … SELECT over generated numbers, spread over
   --instruments instruments (per instrument 80 % in the past year: completed, cancelled, rejected, no-show; 20 %
   in the next 90 days: pending, confirmed, cancelled). Then --queries one-week availability requests for random
   instruments go through the API (GET /api/v1/instruments/{id}/availability, in process), and the holds query
   alone is timed too. The query plan of the holds query is printed.

Prints figures; asserts nothing about time.
"""

import argparse
import http.client
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAST_PER_INSTRUMENT_SHARE = 0.8


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):.3f} ms, p95 {p95:.3f} ms, max {ordered[-1]:.3f} ms"


# ------------------------------------------------------------------------------------------------ creations


def creations(url: str, work: Path, args) -> None:
    from instrument_share.db import db
    from tests import contention
    from tests.conftest import FAST_HASH, make_test_app
    from tests.factories import Factory

    app = make_test_app(url, work, PASSWORD_HASH_METHOD=FAST_HASH, TESTING=False)
    with app.app_context():
        instrument_id, tokens = contention.prepare(Factory(app), users=args.concurrency,
                                                   orgs=min(args.concurrency, 8))
        db.session.remove()
    db.engine.dispose()

    first = contention.first_day()
    slots = []
    for n in range(args.creations):  # 20 half-hour slots a day, 08:00-18:00
        day, slot = divmod(n, 20)
        start = contention.group_windows(1, first + timedelta(days=day))[0][0] + timedelta(minutes=30 * slot)
        slots.append((start, start + timedelta(minutes=30)))
    servers = contention.start_servers(url, servers=args.servers, workers=args.workers, log_dir=work)
    lock, results, queue = threading.Lock(), [], list(reversed(slots))
    barrier = threading.Barrier(args.concurrency)

    def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        port = servers[i % len(servers)].port
        barrier.wait(60)
        while True:
            with lock:
                if not queue:
                    return
                start, end = queue.pop()
            began = time.perf_counter()
            try:
                status, _body = contention.request(port, "POST", "/api/v1/bookings", {
                    "instrument_id": instrument_id, "mode": "machine_time", "start": start.isoformat(),
                    "end": end.isoformat()}, headers)
            except (OSError, http.client.HTTPException):
                status = 0
            with lock:
                results.append((status, (time.perf_counter() - began) * 1000))

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        elapsed = time.perf_counter() - began
    finally:
        contention.stop_servers(servers)
    created = sum(1 for status, _ in results if status == 201)
    print(f"creations over HTTP: {created}/{len(slots)} answered 201 "
          f"(others: {sorted({s for s, _ in results if s != 201})}) in {elapsed:.1f} s = "
          f"{created / elapsed:.1f} bookings/s at concurrency {args.concurrency} "
          f"({args.servers} gunicorn server(s) × {args.workers} workers); "
          f"latency {percentiles([ms for _, ms in results])}", flush=True)


# ------------------------------------------------------------------------------------------------ bulk data


def copy_instruments(count: int, template_id: int) -> list[int]:
    """`count` - 1 more published instruments like the template (rows copied with SQL)."""
    from sqlalchemy import insert, select

    from instrument_share.catalogue.models import Instrument
    from instrument_share.db import db

    table = Instrument.__table__
    row = dict(db.session.execute(select(table).where(table.c.id == template_id)).mappings().one())
    row.pop("id")
    with db.transaction():
        db.session.execute(insert(table), [row | {"serial_no": f"BENCH-{n:05d}"} for n in range(1, count)])
    return [template_id, *db.session.scalars(select(table.c.id).where(table.c.serial_no.like("BENCH-%"))
                                             .order_by(table.c.id))]


def bulk_bookings(total: int, instrument_ids: list[int], unit_id: int, org_id: int, user_id: int) -> float:
    """Insert `total` bookings with one INSERT … SELECT per chunk over generated numbers; returns seconds."""
    from sqlalchemy import text

    from instrument_share.core.clock import now_utc
    from instrument_share.db import db

    per_instrument = total // len(instrument_ids)
    past = int(per_instrument * PAST_PER_INSTRUMENT_SHARE)
    now = now_utc().replace(minute=0, second=0, microsecond=0, tzinfo=None)
    first_id, last_id = instrument_ids[0], instrument_ids[-1]
    assert last_id - first_id + 1 == len(instrument_ids), "instrument ids must be consecutive"
    sqlite = db.dialect == "sqlite"
    # n -> instrument i = n % count, k = n / count; past bookings every 21 h back, future ones every 21.6 h ahead.
    if sqlite:
        def ts(minutes_sql: str) -> str:
            return f"strftime('%Y-%m-%d %H:%M:%S', :now, ({minutes_sql}) || ' minutes') || '.000000'"
        numbers = ("WITH RECURSIVE seq(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < :hi) "
                   "SELECT n, n % :count AS i, n / :count AS k FROM seq")
    else:
        def ts(minutes_sql: str) -> str:
            return f"(CAST(:now AS timestamp) + ({minutes_sql}) * interval '1 minute')"
        numbers = "SELECT n, n % :count AS i, n / :count AS k FROM generate_series(:lo, :hi - 1) AS n"
    offset = f"CASE WHEN k < {past} THEN -(k + 1) * 1260 ELSE (k - {past - 1}) * 1296 END"
    status = (f"CASE WHEN k < {past} THEN (CASE WHEN k % 20 < 2 THEN 'rejected' WHEN k % 20 < 5 THEN 'cancelled' "
              f"WHEN k % 20 = 5 THEN 'no_show' ELSE 'completed' END) ELSE (CASE WHEN k % 10 = 0 THEN 'cancelled' "
              f"WHEN k % 3 = 0 THEN 'pending' ELSE 'confirmed' END) END")
    holds_time = f"(k < {past} AND k % 20 >= 6) OR (k >= {past} AND k % 10 <> 0)"
    false = "0" if sqlite else "false"
    # Built from the constants above; the values are bound parameters.
    sql = text(
        "INSERT INTO bookings (instrument_id, unit_id, organization_id, user_id, mode, status, start_at, "  # noqa: S608
        "end_at, "
        "hold_start, hold_end, quote_fen, quote_basis, late_cancellation, created_at) "
        f"SELECT :first + i, :unit, :org, :user, 'machine_time', {status}, {ts(offset)}, {ts(offset + ' + 60')}, "
        f"CASE WHEN {holds_time} THEN {ts(offset)} END, CASE WHEN {holds_time} THEN {ts(offset + ' + 60')} END, "
        f"50000, 'bench', {false}, {ts(offset + ' - 2880')} FROM ({numbers}) AS g")
    began = time.perf_counter()
    chunk = 100_000
    for lo in range(0, per_instrument * len(instrument_ids), chunk):
        with db.transaction():
            db.session.execute(sql, {"lo": lo, "hi": min(lo + chunk, per_instrument * len(instrument_ids)),
                                     "count": len(instrument_ids), "first": first_id,
                                     "now": now.strftime("%Y-%m-%d %H:%M:%S") if sqlite else now,
                                     "unit": unit_id, "org": org_id, "user": user_id})
        print(f"  {min(lo + chunk, total):,} bookings inserted ({time.perf_counter() - began:.0f} s)", flush=True)
    with db.transaction():
        db.session.execute(text("ANALYZE"))
    if not sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE bookings"))
    return time.perf_counter() - began


def availability(url: str, work: Path, args) -> None:
    from sqlalchemy import func, select, text

    from instrument_share.bookings import service
    from instrument_share.bookings.models import Booking
    from instrument_share.core.clock import local_today, now_utc
    from instrument_share.db import db
    from tests.catalogue_support import civilian_unit, publish_civilian
    from tests.conftest import FAST_HASH, make_test_app
    from tests.factories import Factory

    app = make_test_app(url, work, PASSWORD_HASH_METHOD=FAST_HASH, TESTING=False)
    with app.app_context():
        factory = Factory(app)
        unit = civilian_unit(factory, with_headers=False)
        template = publish_civilian(unit, service_modes=["machine_time"])
        booking_org = factory.org()
        user = factory.user(booking_org, ("sme_user",))
        began = time.perf_counter()
        instrument_ids = copy_instruments(args.instruments, template.id)
        print(f"{len(instrument_ids):,} instruments in {time.perf_counter() - began:.1f} s", flush=True)
        seconds = bulk_bookings(args.bookings, instrument_ids, unit.org.id, booking_org.id, user.id)
        db.session.rollback()
        total = db.session.scalar(select(func.count()).select_from(Booking))
        print(f"{total:,} bookings in the database ({seconds:.0f} s to insert and analyse)", flush=True)

        rng = random.Random(7)
        first = local_today() + timedelta(days=1)
        last = first + timedelta(days=6)
        client = app.test_client()
        path = "/api/v1/instruments/{}/availability?from=" + first.isoformat() + "&to=" + last.isoformat()
        for instrument_id in instrument_ids[:5]:  # warm up
            client.get(path.format(instrument_id))
        api_ms, holds_ms, busy = [], [], []
        now = now_utc()
        for _ in range(args.queries):
            instrument_id = rng.choice(instrument_ids)
            began = time.perf_counter()
            response = client.get(path.format(instrument_id))
            api_ms.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)
            busy.append(len(response.get_json()["busy"]))
            db.session.rollback()
            began = time.perf_counter()
            service.holds(instrument_id, now, now + timedelta(days=8))
            holds_ms.append((time.perf_counter() - began) * 1000)
            db.session.rollback()
        print(f"one-week availability over the API (in process), {args.queries} random instruments: "
              f"{percentiles(api_ms)}; busy intervals per week: median {statistics.median(busy):.0f}")
        print(f"holds() alone (ORM): {percentiles(holds_ms)}")

        def holds_sql(instrument_id: int) -> str:
            stmt = select(Booking.hold_start, Booking.hold_end).where(
                Booking.instrument_id == instrument_id, Booking.status.in_(("pending", "confirmed")),
                Booking.hold_start.is_not(None), Booking.hold_start < now + timedelta(days=8),
                Booking.hold_end > now)
            return str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))

        raw_ms = []
        with db.engine.connect() as conn:
            for _ in range(args.queries * 5):
                sql = holds_sql(rng.choice(instrument_ids))
                began = time.perf_counter()
                conn.exec_driver_sql(sql).fetchall()
                raw_ms.append((time.perf_counter() - began) * 1000)
        print(f"holds SQL alone (driver level, {len(raw_ms)} queries): {percentiles(raw_ms)}")
        compiled = holds_sql(instrument_ids[0])
        prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
        try:
            plan = db.session.execute(text(prefix + str(compiled))).all()
            print("plan of the holds query:")
            for row in plan:
                print("   ", row[-1])
        except Exception as exc:  # the plan is informative only
            print(f"(no plan: {exc})")
        db.session.remove()
    db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creations", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--instruments", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-creations", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and logs")
    args = parser.parse_args()

    from scratch_database import scratch_database

    with scratch_database("bookings", keep=args.keep) as (url, work):
        if not args.skip_creations:
            creations(url, work, args)
        availability(url, work, args)


if __name__ == "__main__":
    main()
