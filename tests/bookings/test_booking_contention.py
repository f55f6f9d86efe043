"""Race-free booking under real concurrency (issue #4, "Done when"), the short version that runs in the suite.

The real application runs under gunicorn: on SQLite one server with 4 workers, on PostgreSQL two servers with 4
workers each, all on the test database. 32 concurrent clients send 200 overlapping requests for one instrument in
10 contested groups (tests/contention.py explains the slots). Exactly one request per group wins; every loser gets
409 booking_conflict naming the winner's interval; nothing answers 5xx; and a final SQL self-join over the holding
bookings finds no overlapping pair. The long run (2,000 attempts and more) is bench/booking_contention.py.
"""

import pytest
from sqlalchemy import text

from instrument_share.db import db

from .. import contention
from ..conftest import BACKEND

ATTEMPTS, GROUPS, CLIENTS = 200, 10, 32


@pytest.fixture
def servers(database_url, app, tmp_path):
    """gunicorn servers on the test database, always stopped afterwards."""
    count = 2 if BACKEND == "postgresql" else 1
    db.session.remove()  # the servers are separate processes; release our connections
    started = contention.start_servers(database_url, servers=count, workers=4, log_dir=tmp_path)
    yield started
    contention.stop_servers(started)


@pytest.mark.slow
def test_one_winner_per_contested_slot_under_gunicorn(app, factory, servers):
    instrument_id, tokens = contention.prepare(factory, users=CLIENTS)
    attempts = contention.plan(ATTEMPTS, GROUPS, contention.first_day())
    report = contention.fire([s.port for s in servers], tokens, instrument_id, attempts, clients=CLIENTS)
    logs = "\n".join(s.tail() for s in servers)
    print(report.summary())

    assert len(report.outcomes) == ATTEMPTS
    assert report.server_errors == [], (report.summary(), report.server_errors[:3], logs)
    assert report.groups_without_exactly_one_winner() == {}, report.summary()
    assert report.bad_losers() == [], (report.summary(), report.bad_losers()[:3])
    assert report.statuses == {201: GROUPS, 409: ATTEMPTS - GROUPS}, report.summary()
    db.session.rollback()
    with db.engine.connect() as conn:
        assert contention.overlapping_pairs(conn) == 0
        assert contention.holding_count(conn, instrument_id) == GROUPS
        # Neighbouring groups are back to back: the winners of adjacent groups may touch but never overlap.
        assert conn.execute(text("SELECT count(*) FROM bookings")).scalar() == GROUPS
    assert all(s.proc.poll() is None for s in servers), logs
