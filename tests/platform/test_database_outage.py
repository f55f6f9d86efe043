"""While the database cannot be reached, every request answers 503 (the JSON error body for the API, an error page
for browsers), never 500, writes nothing, and the platform serves again as soon as the database is back.

The outage is real on both backends: PostgreSQL stops accepting connections to the database (ALLOW_CONNECTIONS
false, its sessions ended); on SQLite the database file is gone from its place (as when its volume is unmounted),
with the pool emptied so that every request must open the file again.
"""

import contextlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from instrument_share.bookings.models import Booking
from instrument_share.core.errors import NotFound
from instrument_share.db import db, normalise_url

from ..booking_support import book, iso, make_world
from ..conftest import BACKEND, make_test_app
from ..factories import Factory, sign_in


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


def lose_connection(app) -> None:
    """The session's database connection goes away: the server ends it (PostgreSQL, as on a restart), or it is
    closed under the pool (SQLite). Nothing notices until the session's next statement or ROLLBACK."""
    if BACKEND == "postgresql":
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        killer = create_engine(normalise_url(app.config["DATABASE_URL"]), isolation_level="AUTOCOMMIT")
        with killer.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
    else:
        db.session.connection().connection.dbapi_connection.close()


@pytest.fixture
def own_app(database_url, tmp_path):
    """An application with no context pushed around its requests: each request gets its own context and closes
    its session at the end, as under gunicorn."""
    app = make_test_app(database_url, tmp_path)

    @app.route("/api/v1/test-refusal-after-lost-connection")
    def refusal_after_lost_connection():
        db.session.execute(text("SELECT 1"))
        lose_connection(app)
        raise NotFound("Nothing here.")

    with app.app_context():
        app.extensions["world"] = make_world(Factory(app))
        db.session.remove()
    yield app
    db.engine.dispose()


def test_an_answer_is_delivered_when_the_connection_is_lost_before_the_request_ends(own_app):
    client, w = own_app.test_client(), own_app.extensions["world"]
    # Teardown functions run last-registered first: this one before the database's own.
    own_app.teardown_appcontext(lambda _exc: lose_connection(own_app))
    response = client.get("/api/v1/me", headers=w.alice.headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["username"] == w.alice.user.username
    own_app.teardown_appcontext_funcs.pop()
    # The worker goes on with a fresh connection.
    assert client.get("/api/v1/me", headers=w.alice.headers).status_code == 200


def test_a_refusal_is_answered_when_the_connection_was_lost_before_it(own_app):
    client = own_app.test_client()
    response = client.get("/api/v1/test-refusal-after-lost-connection")
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    assert response.get_json() == {"error": "not_found", "message": "Nothing here.", "fields": {}}
    assert client.get("/api/v1/me", headers=own_app.extensions["world"].alice.headers).status_code == 200
