"""Faults under load (issue 13), the short version that runs in the suite; the long run is bench/faults.py.

The real application runs under gunicorn (3 workers) on the backend of the pass: SQLite on a copy of the migrated
template, PostgreSQL on a throw-away server of its own (the run restarts it). 8 virtual users book with
Idempotency-Key, record services, take payments, submit voucher claims and read lists and pages for 20 s while one
worker is killed with SIGKILL and the database fails once (SQLite: full for 5 s; PostgreSQL: `pg_ctl restart -m
fast`). Then: every write acknowledged with 2xx is in the database, nothing exists twice or half, the audit chain
verifies, nothing answered a 5xx other than 503 with the JSON error body, and the gunicorn log shows no 500.
How fast service came back is printed with the figures, not asserted.
"""

import contextlib
import shutil
import sys
from pathlib import Path

import pytest

from instrument_share.db import db

from .. import faults
from ..conftest import BACKEND, make_test_app, migrate
from ..factories import Factory

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from pg_throwaway import throwaway_cluster

SECONDS, USERS, WORKERS = 20, 8, 3


@pytest.mark.slow
def test_no_acknowledged_write_lost_and_no_500_under_faults(request, tmp_path, report_figure):
    with contextlib.ExitStack() as stack:
        cluster = None
        if BACKEND == "postgresql":
            cluster = stack.enter_context(throwaway_cluster())
            url = cluster.url
            migrate(url)
        else:
            path = tmp_path / "faults.sqlite3"
            shutil.copyfile(request.getfixturevalue("migrated_template"), path)
            url = f"sqlite:///{path}"
        plan = [(6, "worker_kill"), (11, "pg_restart" if cluster else "disk_full")]
        app = make_test_app(url, tmp_path)
        try:
            with app.app_context():
                world = faults.prepare(Factory(app), users=USERS, run=faults.new_run_tag())
                db.session.remove()
                result = faults.run(url, world, seconds=SECONDS, workers=WORKERS, plan=plan, work=tmp_path,
                                    cluster=cluster, full_seconds=5)
                figures = faults.figures(result, backend=BACKEND, seconds=SECONDS)
                db.session.remove()
        finally:
            db.engine.dispose()
    print(figures.table())
    report_figure(figures.summary())

    assert sorted(f.kind for f in figures.faults) == sorted(kind for _at, kind in plan), figures.injector_errors
    assert figures.problems(recovery=False) == [], (figures.table(), result.log[-3000:])
    assert sum(figures.acknowledged.values()) > 0 and figures.ok_2xx > 0
