"""Faults under load (issue 13): the real application under gunicorn, 32 virtual users booking (with
Idempotency-Key), recording services, taking payments and submitting voucher claims, while a worker is killed with
SIGKILL every 60 s and the database fails once: PostgreSQL is restarted (`pg_ctl restart -m fast`), or the SQLite
database becomes full for a while and is then cleared.

Usage:
    .venv/bin/python bench/faults.py [--backend sqlite|postgresql] [--seconds 300] [--users 32] [--workers 4]
        [--kill-every 60] [--database-fault-at SECONDS] [--full-seconds 10] [--keep]

SQLite runs on a new file in a temporary directory; PostgreSQL on a throw-away server started from the installed
binaries (scripts/pg_throwaway.py), since the run restarts it. Afterwards it checks that every write acknowledged
with 2xx is in the database, that nothing exists twice, that the audit chain verifies, that no answer was a 5xx
other than 503 (each 503 with the JSON error body) and that a write succeeded within 30 s after each fault; it
prints one table of figures and exits 1 when a check fails (tests/faults.py).
"""

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--kill-every", type=float, default=60, help="seconds between worker kills")
    parser.add_argument("--database-fault-at", type=float, default=None,
                        help="when the database fails (default: 45%% into the run)")
    parser.add_argument("--full-seconds", type=float, default=10, help="how long the SQLite database stays full")
    parser.add_argument("--keep", action="store_true", help="keep the database and the gunicorn log")
    args = parser.parse_args()

    from pg_throwaway import throwaway_cluster

    from instrument_share.db import db
    from tests import faults
    from tests.conftest import make_test_app, migrate
    from tests.factories import Factory

    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    fault_at = args.database_fault_at if args.database_fault_at is not None else args.seconds * 0.45
    plan = faults.fault_plan(args.seconds, kill_every=args.kill_every, database_fault_at=fault_at,
                             database_fault="pg_restart" if args.backend == "postgresql" else "disk_full")
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.backend == "postgresql":
            cluster = stack.enter_context(throwaway_cluster())
            url = cluster.url
        else:
            url = f"sqlite:///{work / 'faults.sqlite3'}"
        migrate(url)
        app = make_test_app(url, work, TESTING=False)
        with app.app_context():
            world = faults.prepare(Factory(app), users=args.users, run=faults.new_run_tag())
            db.session.remove()
            print(f"backend={args.backend} users={args.users} workers={args.workers} seconds={args.seconds:.0f} "
                  f"plan={[(round(at), kind) for at, kind in sorted(plan)]}; "
                  f"data ready after {time.monotonic() - began:.0f} s", flush=True)
            result = faults.run(url, world, seconds=args.seconds, workers=args.workers, plan=plan, work=work,
                                cluster=cluster, full_seconds=args.full_seconds)
            print(f"load and faults over after {time.monotonic() - began:.0f} s", flush=True)
            figures = faults.figures(result, backend=args.backend, seconds=args.seconds)
            db.session.remove()
        db.engine.dispose()
    print(f"checked after {time.monotonic() - began:.0f} s")
    print(figures.table())
    print("SUMMARY:", figures.summary())
    problems = figures.problems()
    for problem in problems:
        print("FAILED:", problem)
    print("RESULT:", "FAILED" if problems else "ok")
    if args.keep or problems:
        print(f"files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
