"""Login lockout: 5 failed logins within 15 minutes lock the account for 30 minutes, counted in the database so
the limit holds across worker processes; every sign-in success and failure is audited."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from instrument_share.accounts import auth
from instrument_share.accounts.models import ApiToken, LoginFailure, User
from instrument_share.accounts.roles import Role
from instrument_share.audit import chain
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.scheduling import claims
from instrument_share.scheduling.jobs import JOBS

from ._procs import PROCESSES, login_worker
from .factories import PASSWORD, login

WRONG = "not the password at all"


def audit_actions(user: User | None = None) -> list[str]:
    db.session.rollback()
    stmt = select(AuditEntry.action).where(AuditEntry.action.startswith("login.") |
                                           (AuditEntry.action == "account.locked")).order_by(AuditEntry.seq)
    if user is not None:
        stmt = stmt.where(AuditEntry.actor_id == user.id)
    return list(db.session.scalars(stmt))


def audit_details(action: str) -> list[dict]:
    db.session.rollback()
    rows = db.session.scalars(select(AuditEntry.details).where(AuditEntry.action == action).order_by(AuditEntry.seq))
    return [json.loads(d) for d in rows]


def locked_until(user: User):
    db.session.rollback()
    return db.session.scalar(select(User.locked_until).where(User.id == user.id))


def failures(user: User) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.user_id == user.id))


def signed_in(response) -> bool:
    """The login form redirects on success and shows the form again on a refusal."""
    return response.status_code == 302 and "/login" not in response.headers["Location"]


# ---- the login form ----------------------------------------------------------------------------------------


def test_five_failed_form_logins_lock_the_account_for_thirty_minutes(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    start = frozen_clock.now
    for attempt in range(1, 5):
        response = login(client, user.username, WRONG)
        assert response.status_code == 200 and not signed_in(response)
        assert locked_until(user) is None
        assert failures(user) == attempt
        frozen_clock.move(minutes=2)
    response = login(client, user.username, WRONG)  # the fifth within 15 minutes
    assert response.status_code == 200
    assert locked_until(user) == frozen_clock.now + timedelta(minutes=30)
    lock_time = frozen_clock.now

    # Locked: the right password is refused too.
    assert not signed_in(login(client, user.username, PASSWORD))
    frozen_clock.move(minutes=29, seconds=59)
    assert not signed_in(login(client, user.username, PASSWORD))

    frozen_clock.move(seconds=2)  # just over 30 minutes after the lock
    assert signed_in(login(client, user.username, PASSWORD))
    assert locked_until(user) is None and failures(user) == 0

    assert audit_actions(user) == ["login.failure"] * 5 + ["account.locked", "login.refused", "login.refused",
                                                           "login.success"]
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 5]
    assert [d["reason"] for d in audit_details("login.refused")] == ["locked", "locked"]
    (locked,) = audit_details("account.locked")
    assert locked["failures"] == 5
    assert datetime.fromisoformat(locked["until"]) == lock_time + timedelta(minutes=30)
    assert lock_time - start == timedelta(minutes=8)


def test_failures_older_than_fifteen_minutes_do_not_count(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    for _ in range(4):
        login(client, user.username, WRONG)
    frozen_clock.move(minutes=15, seconds=1)
    for _ in range(4):  # four more, but the first four have left the window
        login(client, user.username, WRONG)
    assert locked_until(user) is None
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 1, 2, 3, 4]
    login(client, user.username, WRONG)
    assert locked_until(user) == frozen_clock.now + timedelta(minutes=30)


def test_a_success_resets_the_count(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    for _ in range(4):
        login(client, user.username, WRONG)
    assert signed_in(login(client, user.username, PASSWORD))
    other = app.test_client()
    with app.app_context():  # another browser, with its own request state
        for _ in range(4):
            login(other, user.username, WRONG)
    assert locked_until(user) is None and failures(user) == 4


def test_unknown_user_names_are_audited_as_failures(app, client):
    response = login(client, "nobody-here", WRONG)
    assert response.status_code == 200
    assert audit_actions() == ["login.failure"]
    (details,) = audit_details("login.failure")
    assert details == {"reason": "unknown_user", "username": "nobody-here"}


# ---- the API (HTTP Basic on POST /api/v1/tokens) ----------------------------------------------------------


def test_five_failed_api_logins_lock_the_account(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))

    def token_request(password):
        response = client.post("/api/v1/tokens", json={"name": "ci"}, auth=(user.username, password))
        return response.status_code, (response.get_json() or {}).get("error")

    assert [token_request(WRONG) for _ in range(4)] == [(401, "invalid_credentials")] * 4
    assert token_request(WRONG) == (403, "account_locked")
    assert token_request(PASSWORD) == (403, "account_locked")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0

    frozen_clock.move(minutes=30, seconds=1)
    status, _error = token_request(PASSWORD)
    assert status == 201
    assert audit_actions(user) == ["login.failure"] * 5 + ["account.locked", "login.refused", "login.success"]
    assert json.loads(db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "login.success"))) \
        == {"method": "api_token"}


# ---- two worker processes share the count ------------------------------------------------------------------


class Worker:
    """A separate process with its own create_app on the same database: one gunicorn worker."""

    def __init__(self, database_url, tmp_path):
        self.conn, child = PROCESSES.Pipe()
        self.process = PROCESSES.Process(target=login_worker, args=(database_url, tmp_path, child))
        self.process.start()

    def __call__(self, *command):
        self.conn.send(command)
        assert self.conn.poll(120), f"worker did not answer {command}"
        answer = self.conn.recv()
        assert answer[0] != "error", answer[1]
        return answer

    def stop(self):
        if self.process.is_alive():
            self.conn.send(("stop",))
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@pytest.fixture
def workers(app, database_url, tmp_path):
    started = [Worker(database_url, tmp_path / "a"), Worker(database_url, tmp_path / "b")]
    yield started
    for worker in started:
        worker.stop()


@pytest.mark.slow
def test_the_lockout_holds_across_two_worker_processes(app, factory, workers):
    a, b = workers
    user = factory.user(roles=(Role.sme_user,))
    t0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    # Each worker runs on its own frozen clock, so "30 minutes later" needs no waiting.
    assert a("freeze", t0.isoformat()) == b("freeze", t0.isoformat()) == "ok"

    # Five wrong passwords, alternating between the processes and between the API and the form: 3 by A, 2 by B.
    assert a("api", user.username, WRONG) == (401, "invalid_credentials")
    assert b("form", user.username, WRONG)[0] == 200
    assert a("form", user.username, WRONG)[0] == 200
    assert b("api", user.username, WRONG) == (401, "invalid_credentials")
    assert locked_until(user) is None and failures(user) == 4
    assert a("api", user.username, WRONG) == (403, "account_locked")
    assert locked_until(user) == t0 + timedelta(minutes=30)

    # While locked, the right password is refused by both processes, by the API and by the form.
    assert a("api", user.username, PASSWORD) == (403, "account_locked")
    assert b("api", user.username, PASSWORD) == (403, "account_locked")
    assert a("form", user.username, PASSWORD)[0] == 200
    assert b("form", user.username, PASSWORD)[0] == 200

    # 30 minutes (and a second) later both processes accept it.
    later = (t0 + timedelta(minutes=30, seconds=1)).isoformat()
    assert a("freeze", later) == b("freeze", later) == "ok"
    assert a("api", user.username, PASSWORD) == (201, "created")
    status, location = b("form", user.username, PASSWORD)
    assert status == 302 and "/login" not in location

    assert audit_actions(user) == (["login.failure"] * 5 + ["account.locked"] + ["login.refused"] * 4
                                   + ["login.success"] * 2)
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 5]
    assert chain.verify().ok


# ---- clearing expired counters -----------------------------------------------------------------------------


def test_the_purge_job_clears_only_expired_failure_counters(app, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    now = frozen_clock.now
    ages = [timedelta(hours=3), timedelta(minutes=20), timedelta(minutes=15), timedelta(minutes=14, seconds=59),
            timedelta(minutes=1)]
    with db.transaction():
        for age in ages:
            db.session.add(LoginFailure(user_id=user.id, failed_at=now - age))
    (job,) = [j for j in JOBS if j.name == "purge_login_failures"]
    assert claims.run_once(job.name, claims.period_key(job.interval_seconds), job.work, lease_seconds=60)
    db.session.rollback()
    left = sorted(now - f for f in db.session.scalars(select(LoginFailure.failed_at)))
    assert left == [timedelta(minutes=1), timedelta(minutes=14, seconds=59)]

    # The counters that are left still count: three more failures lock the account.
    with db.transaction():
        for _ in range(3):
            result = auth.authenticate(user.username, WRONG)
    assert result.error == "locked"
    assert locked_until(user) == now + timedelta(minutes=30)
