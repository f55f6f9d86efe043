"""The long booking contention run (issue #4, "Done when"): the real application under gunicorn, 32 concurrent
clients, at least 2,000 overlapping booking attempts at one instrument.

Usage:
    .venv/bin/python bench/booking_contention.py [--attempts 2000] [--groups 100] [--clients 32] [--workers 4]
        [--servers N] [--keep]

Database: DATABASE_URL when it names PostgreSQL (an empty database you own: its schema is dropped and migrated
afresh), run with two gunicorn servers of 4 workers each; otherwise a new SQLite file in a temporary directory,
with one server of 4 workers. --servers overrides the number of servers.

Every attempt of a group overlaps every other attempt of that group, and groups lie back to back (see
tests/contention.py), so the run must end with exactly one winner per group, every loser answered 409
booking_conflict naming the winner, no 5xx (nor a dropped connection), and zero overlapping pairs of holding bookings
in a final SQL self-join. The script prints winners, losers, the 5xx count and the overlap count, and exits 1 when
any of those checks fails. It asserts nothing about time.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=100, help="contested groups (one winner each)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per server")
    parser.add_argument("--servers", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the gunicorn logs")
    args = parser.parse_args()

    from sqlalchemy import create_engine

    from instrument_share.db import db, normalise_url
    from tests import contention
    from tests.conftest import FAST_HASH, make_test_app, migrate, reset_postgres_schema
    from tests.factories import Factory

    work = Path(tempfile.mkdtemp(prefix="bench-contention-"))
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        backend, servers = "postgresql", args.servers or 2
        reset_postgres_schema(url)
    else:
        backend, servers = "sqlite", args.servers or 1
        url = f"sqlite:///{work / 'contention.sqlite3'}"
    migrate(url)
    print(f"backend={backend} servers={servers}x{args.workers} workers clients={args.clients} "
          f"attempts={args.attempts} groups={args.groups}", flush=True)

    app = make_test_app(url, work, PASSWORD_HASH_METHOD=FAST_HASH, TESTING=False)
    with app.app_context():
        instrument_id, tokens = contention.prepare(Factory(app), users=args.clients)
        db.session.remove()
    db.engine.dispose()

    attempts = contention.plan(args.attempts, args.groups, contention.first_day())
    began = time.perf_counter()
    started = contention.start_servers(url, servers=servers, workers=args.workers, log_dir=work)
    print(f"servers ready in {time.perf_counter() - began:.1f} s", flush=True)
    try:
        report = contention.fire([s.port for s in started], tokens, instrument_id, attempts, clients=args.clients)
    finally:
        contention.stop_servers(started)

    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        overlaps = contention.overlapping_pairs(conn)
        holding = contention.holding_count(conn, instrument_id)
    engine.dispose()

    wrong_groups = report.groups_without_exactly_one_winner()
    bad_losers = report.bad_losers()
    print(report.summary())
    print(f"winners={sum(map(len, report.winners.values()))} losers={len(report.losers)} "
          f"5xx={len(report.server_errors)} overlapping_pairs={overlaps} holding_bookings={holding}")
    print(f"groups without exactly one winner: {len(wrong_groups)}; losers not answered 409 booking_conflict "
          f"naming the winner: {len(bad_losers)}")
    for outcome in (report.server_errors + bad_losers)[:5]:
        print("  example:", outcome.status, outcome.body)
    ok = not wrong_groups and not bad_losers and not report.server_errors and overlaps == 0 \
        and holding == args.groups and len(report.outcomes) == args.attempts
    print("RESULT:", "ok" if ok else "FAILED")
    if args.keep or not ok:
        print(f"files kept in {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
