"""While the database cannot be reached, every request answers 503 (the JSON error body for the API, an error page
for browsers), never 500, writes nothing, and the platform serves again as soon as the database is back.

The outage is real on both backends: PostgreSQL stops accepting connections to the database (ALLOW_CONNECTIONS
false, its sessions ended); on SQLite the database file is gone from its place (as when its volume is unmounted),
with the pool emptied so that every request must open the file again.
"""

import contextlib
import shutil
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from instrument_share.bookings.models import Booking
from instrument_share.db import db, normalise_url

from .booking_support import book, iso, make_world
from .conftest import BACKEND
from .factories import sign_in


@contextlib.contextmanager
def database_unavailable(url: str):
    db.session.remove()
    if BACKEND == "postgresql":
        base, name = normalise_url(url).rsplit("/", 1)
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            admin.dispose()
        return
    path = Path(url.split("///", 1)[1])
    aside = path.parent / "aside"
    aside.mkdir()
    db.engine.dispose()  # no connection keeps the file open: every request opens it anew
    for part in path.parent.glob(path.name + "*"):
        part.rename(aside / part.name)
    path.mkdir()  # a directory where the file was: SQLite cannot open it (and does not create an empty one)
    try:
        yield
    finally:
        path.rmdir()
        for part in aside.iterdir():
            part.rename(path.parent / part.name)
        shutil.rmtree(aside)
        db.engine.dispose()


def bookings() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking))


def test_api_answers_503_with_the_error_body_and_writes_nothing(app, client, factory, database_url, frozen_clock):
    w = make_world(factory)
    with database_unavailable(database_url):
        for response in (client.get("/api/v1/me", headers=w.alice.headers),
                         book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k1")):
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.get_json()["error"] == "unavailable"
            assert set(response.get_json()) == {"error", "message", "fields"}
    assert bookings() == 0
    # The key was never taken: the retry after the outage books once.
    retry = book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k1")
    assert retry.status_code == 201, retry.get_data(as_text=True)
    assert bookings() == 1


def test_signed_in_browser_gets_the_503_page_not_a_500(app, client, factory, database_url):
    w = make_world(factory)
    sign_in(client, factory, w.alice.user)
    with database_unavailable(database_url):
        for path in ("/profile/", "/api/v1/me"):  # the API call carries the session cookie too
            response = client.get(path)
            assert response.status_code == 503, (path, response.get_data(as_text=True)[:500])
        page = client.get("/profile/")
        assert "<h1>503</h1>" in page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "no-store"
    assert client.get("/profile/").status_code == 200  # still signed in once the database is back
