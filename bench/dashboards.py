"""Benchmark the first load of the public city dashboard, computed live and read from the stored snapshot.

Usage: .venv/bin/python bench/dashboards.py [--instruments 20000] [--records 1000000] [--units 400] [--keep]
       (DATABASE_URL=postgresql+psycopg://… to measure on PostgreSQL: its public schema is reset)

Fills a scratch database as bench/quarterly_report.py does (every service in 2026Q3, inside the dashboards'
twelve-month window), then times, each with a new app (so no process cache): GET /dashboards/city computed live,
the scheduler job that computes and stores the snapshot, and GET /dashboards/city read from the snapshot. Prints
wall times; asserts only that both pages show the same figures.
"""

import argparse
import difflib
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue_search import make_app
from quarterly_report import add_world_arguments, fill
from scratch_database import scratch_database

VARYING = r"chart\d+-|<p class=\"meta\">.*?</p>|name=\"csrf_token\" value=\"[^\"]*\""


def first_load(url: str) -> tuple[float, str]:
    app = make_app(url)
    client = app.test_client()
    started = time.perf_counter()
    response = client.get("/dashboards/city")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    html = response.get_data(as_text=True)
    # Only the figures: chart ids run on, the stated time and the form tokens differ.
    return elapsed, re.sub(VARYING, "", html, flags=re.S)


def main() -> None:
    parser = argparse.ArgumentParser()
    add_world_arguments(parser)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_database("dashboards", keep=args.keep) as (url, _work):
        from sqlalchemy import select

        from instrument_share.db import db
        from instrument_share.reporting import snapshots
        from instrument_share.reporting.models import StatisticsSnapshot

        app = make_app(url)
        with app.app_context():
            filled = fill(db.engine, args, random.Random(5))
            db.session.remove()
            db.engine.dispose()
        print(f"filled {filled['records']:,} records, {filled['entries']:,} entries in {filled['fill_s']:.1f} s",
              flush=True)
        live_s, live_html = first_load(url)
        print(f"first load, computed live:     {live_s:8.2f} s", flush=True)
        job_app = make_app(url)
        with job_app.app_context():
            started = time.perf_counter()
            result = snapshots.refresh_due()
            job_s = time.perf_counter() - started
            stored_bytes = sum(len(row.payload.encode()) for row in db.session.scalars(select(StatisticsSnapshot)))
        print(f"scheduler job (compute+store): {job_s:8.2f} s  ({result}; {stored_bytes:,} bytes stored)", flush=True)
        stored_s, stored_html = first_load(url)
        print(f"first load, from the snapshot: {stored_s:8.2f} s", flush=True)
        if stored_html != live_html:
            diff = difflib.unified_diff(live_html.splitlines(), stored_html.splitlines(), lineterm="")
            print("\n".join(list(diff)[:40]))
            raise SystemExit("the snapshot page differs from the live page")
        print("same figures on both pages")


if __name__ == "__main__":
    main()
