"""Entry points for the multi-process tests.

Each child builds its own application with tests.conftest.make_test_app on the test database, exactly as a
separate gunicorn worker or scheduler process would: its own engine, its own connections, nothing shared with
the parent but the database.

Children come from the 'forkserver' context: a fresh, single-threaded server process (started like a 'spawn'
child, so it inherits no engine, connection, lock or thread of the test process) that has only imported the
application's modules, and forks each child from there. That gives the isolation of 'spawn' without paying the
~1.5 s of imports per child, which matters with 16 children on a 2-core machine.
"""

import multiprocessing
import time
import traceback
from datetime import datetime
from pathlib import Path

PROCESSES = multiprocessing.get_context("forkserver")
# Imports only: no application, engine or connection exists in the server process.
PROCESSES.set_forkserver_preload(["tests._procs", "tests.conftest", "tests.factories", "instrument_share.models",
                                  "instrument_share.web", "instrument_share.api", "instrument_share.cli",
                                  "instrument_share.scheduling.claims", "instrument_share.mail.outbox"])


# Children that race for the SQLite write lock wait up to a minute for it. SQLite's busy handler is not fair: on
# a loaded 2-core machine one of 16 writers can wait longer than the default 10 s and give up with "database is
# locked". That is a liveness limit of SQLite under artificial contention, not what these tests are about
# (gapless, fork-free, exactly-once), so they allow the longer wait.
CONTENDED = {"SQLITE_BUSY_TIMEOUT_MS": 60000}


def _app(database_url: str, tmp_path: Path, **overrides):
    from tests.conftest import make_test_app

    return make_test_app(database_url, tmp_path, **overrides)


def audit_writer(database_url: str, tmp_path: Path, worker: int, count: int, start, results) -> None:
    """Append `count` entries, one transaction each, after every writer is ready; report the seqs written."""
    try:
        from sqlalchemy import text

        from instrument_share.audit import chain
        from instrument_share.db import db

        app = _app(database_url, tmp_path, **CONTENDED)
        with app.app_context():
            db.session.execute(text("SELECT 1"))  # connect before the race starts
            db.session.rollback()
            start.wait(120)
            seqs = []
            for i in range(count):
                with db.transaction():
                    entry = chain.append("test.concurrent", object_type="writer", object_id=worker,
                                         details={"worker": worker, "i": i})
                    seqs.append(entry.seq)
            db.session.remove()
        db.engine.dispose()
        results.put((worker, seqs, None))
    except BaseException:
        results.put((worker, [], traceback.format_exc()))


def blocking_scheduler(database_url: str, tmp_path: Path, job: str, period: str, lease_seconds: int,
                       in_work, owner_out) -> None:
    """Claim a period, then hang inside the work function after writing its effect (uncommitted).

    The parent kills this process with SIGKILL while it waits here: a scheduler that dies mid-job.
    """
    from instrument_share.audit import chain
    from instrument_share.scheduling import claims

    app = _app(database_url, tmp_path)

    def work():
        chain.append("test.job_effect", object_type="job_period", object_id=period, details={"by": "victim"})
        in_work.set()
        time.sleep(600)  # killed long before this ends
        return "never"

    with app.app_context():
        owner_out.put(claims.owner_name())
        claims.run_once(job, period, work, lease_seconds=lease_seconds)


def claim_racer(database_url: str, tmp_path: Path, job: str, periods: list[str], start, results) -> None:
    """Run the job for every period as one of several competing schedulers; report which periods it won."""
    try:
        from instrument_share.audit import chain
        from instrument_share.db import db
        from instrument_share.scheduling import claims

        app = _app(database_url, tmp_path, **CONTENDED)
        won = []
        with app.app_context():
            start.wait(120)
            for period in periods:
                def work(period=period):
                    chain.append("test.job_effect", object_type="job_period", object_id=period)
                    return "done"

                if claims.run_once(job, period, work, lease_seconds=300):
                    won.append(period)
            db.session.remove()
        db.engine.dispose()
        results.put((won, None))
    except BaseException:
        results.put(([], traceback.format_exc()))


def outbox_sender(database_url: str, tmp_path: Path, log_path: str, start, results) -> None:
    """Send due mail with a recording transport, competing with another sender process."""
    try:
        from instrument_share.db import db
        from instrument_share.mail import outbox

        app = _app(database_url, tmp_path, **CONTENDED)

        def deliver(message):
            with open(log_path, "a") as fh:
                fh.write(f"{message.id}\n")

        with app.app_context():
            start.wait(120)
            counts = outbox.send_due(limit=1000, deliver=deliver)
            db.session.remove()
        db.engine.dispose()
        results.put((counts, None))
    except BaseException:
        results.put(({}, traceback.format_exc()))


def login_worker(database_url: str, tmp_path: Path, conn) -> None:
    """A web worker: signs in through the API or the login form on request, with its own frozen clock.

    Commands: ("freeze", iso_time) | ("api", username, password) -> (status, error code)
    | ("form", username, password) -> (status, location) | ("stop",).
    """
    from instrument_share.core import clock
    from instrument_share.db import db
    from tests.factories import login

    app = _app(database_url, tmp_path)
    client = app.test_client()
    with app.app_context():
        while True:
            command = conn.recv()
            try:
                if command[0] == "stop":
                    break
                if command[0] == "freeze":
                    clock.freeze(datetime.fromisoformat(command[1]))
                    conn.send("ok")
                elif command[0] == "api":
                    response = client.post("/api/v1/tokens", json={"name": "worker"},
                                           auth=(command[1], command[2]))
                    body = response.get_json() or {}
                    conn.send((response.status_code, body.get("error") or "created"))
                elif command[0] == "form":
                    browser = app.test_client()  # a fresh browser per attempt
                    response = login(browser, command[1], command[2])
                    conn.send((response.status_code, response.headers.get("Location")))
                else:
                    conn.send(("unknown command", command))
            except BaseException:
                conn.send(("error", traceback.format_exc()))
            finally:
                db.session.remove()
    db.engine.dispose()
