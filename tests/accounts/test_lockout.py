"""Login lockout per (account, source address): 5 failed logins from one address within 15 minutes lock that address
out of the account for 30 minutes, while the owner still signs in from elsewhere; counted in the database so the limit
holds across worker processes; every sign-in success and failure is audited. The account-wide lock, the identical
answers and the mail to the security administrators are in test_lockout_account.py."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from instrument_share.accounts import auth
from instrument_share.accounts.models import ApiToken, LoginFailure, LoginLock, User
from instrument_share.accounts.roles import Role
from instrument_share.audit import chain
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.jobs import JOBS
from instrument_share.scheduling import claims

from .._procs import PROCESSES, login_worker
from ..factories import PASSWORD, login

WRONG = "not the password at all"
HOME, OFFICE = "203.0.113.7", "198.51.100.20"  # the attacker's address and the owner's (documentation ranges)


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


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


def pair_locked_until(user: User, address: str = "127.0.0.1"):
    db.session.rollback()
    return db.session.scalar(select(LoginLock.locked_until).where(LoginLock.user_id == user.id,
                                                                  LoginLock.remote_addr == address))


def account_locked_until(user: User):
    db.session.rollback()
    return db.session.scalar(select(User.locked_until).where(User.id == user.id))


def failures(user: User, address: str | None = None) -> int:
    db.session.rollback()
    stmt = select(func.count()).select_from(LoginFailure).where(LoginFailure.user_id == user.id)
    if address is not None:
        stmt = stmt.where(LoginFailure.remote_addr == address)
    return db.session.scalar(stmt)


def signed_in(response) -> bool:
    """The login form redirects on success and shows the form again on a refusal."""
    return response.status_code == 302 and "/login" not in response.headers["Location"]


# ---- the login form ----------------------------------------------------------------------------------------


def test_five_failed_form_logins_lock_that_address_out_for_thirty_minutes_but_not_the_owner(app, factory,
                                                                                          frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    attacker, owner = app.test_client(), app.test_client()
    start = frozen_clock.now
    for attempt in range(1, 5):
        response = login(attacker, user.username, WRONG, **from_address(HOME))
        assert response.status_code == 200 and not signed_in(response)
        assert pair_locked_until(user, HOME) is None
        assert failures(user, HOME) == attempt
        frozen_clock.move(minutes=2)
    response = login(attacker, user.username, WRONG, **from_address(HOME))  # the fifth within 15 minutes
    assert response.status_code == 200
    assert pair_locked_until(user, HOME) == frozen_clock.now + timedelta(minutes=30)
    assert account_locked_until(user) is None
    lock_time = frozen_clock.now

    # From that address even the right password is refused; from the owner's office it works.
    assert not signed_in(login(attacker, user.username, PASSWORD, **from_address(HOME)))
    assert signed_in(login(owner, user.username, PASSWORD, **from_address(OFFICE)))
    frozen_clock.move(minutes=29, seconds=59)
    assert not signed_in(login(attacker, user.username, PASSWORD, **from_address(HOME)))

    frozen_clock.move(seconds=2)  # just over 30 minutes after the lock
    assert signed_in(login(attacker, user.username, PASSWORD, **from_address(HOME)))
    assert failures(user, HOME) == 0 and pair_locked_until(user, HOME) is None  # the success clears the pair

    assert audit_actions(user) == ["login.failure"] * 5 + ["login.pair_locked", "login.refused", "login.success",
                                                           "login.refused", "login.success"]
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 5]
    assert [d["reason"] for d in audit_details("login.refused")] == ["locked_pair", "locked_pair"]
    (locked,) = audit_details("login.pair_locked")
    assert locked["failures"] == 5 and locked["address"] == HOME
    assert datetime.fromisoformat(locked["until"]) == lock_time + timedelta(minutes=30)
    assert lock_time - start == timedelta(minutes=8)
    db.session.rollback()
    addresses = db.session.scalars(select(AuditEntry.remote_addr).where(AuditEntry.action == "login.success")
                                   .order_by(AuditEntry.seq)).all()
    assert addresses == [OFFICE, HOME]


def test_failures_older_than_fifteen_minutes_do_not_count(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    for _ in range(4):
        login(client, user.username, WRONG)
    frozen_clock.move(minutes=15, seconds=1)
    for _ in range(4):  # four more, but the first four have left the window
        login(client, user.username, WRONG)
    assert pair_locked_until(user) is None
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 1, 2, 3, 4]
    login(client, user.username, WRONG)
    assert pair_locked_until(user) == frozen_clock.now + timedelta(minutes=30)


def test_failures_that_led_to_a_lock_do_not_count_toward_the_next(app, client, factory, frozen_clock):
    """With a lock shorter than the window, the failures before it must not lock the pair again at once."""
    app.config["LOCKOUT_DURATION_MINUTES"] = 5
    user = factory.user(roles=(Role.sme_user,))
    for _ in range(5):
        login(client, user.username, WRONG)
    assert pair_locked_until(user) == frozen_clock.now + timedelta(minutes=5)
    frozen_clock.move(minutes=5, seconds=1)
    login(client, user.username, WRONG)
    assert audit_details("login.failure")[-1]["failures_in_window"] == 1
    assert pair_locked_until(user) < frozen_clock.now  # the ended lock, not a new one
    assert signed_in(login(client, user.username, PASSWORD))


def test_a_success_clears_only_its_own_addresses_failures(app, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    browser = app.test_client()
    for _ in range(4):
        login(browser, user.username, WRONG, **from_address(OFFICE))
    for _ in range(3):
        login(browser, user.username, WRONG, **from_address(HOME))
    assert signed_in(login(app.test_client(), user.username, PASSWORD, **from_address(OFFICE)))
    assert failures(user, OFFICE) == 0 and failures(user, HOME) == 3
    for _ in range(2):
        login(browser, user.username, WRONG, **from_address(HOME))
    assert pair_locked_until(user, HOME) == frozen_clock.now + timedelta(minutes=30)
    assert pair_locked_until(user, OFFICE) is None


def test_unknown_user_names_are_audited_as_failures(app, client):
    response = login(client, "nobody-here", WRONG)
    assert response.status_code == 200
    assert audit_actions() == ["login.failure"]
    (details,) = audit_details("login.failure")
    assert details == {"reason": "unknown_user", "username": "nobody-here"}


# ---- the API (HTTP Basic on POST /api/v1/tokens) ----------------------------------------------------------


def test_five_failed_api_logins_lock_the_address_but_not_the_owner(app, client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))

    def token_request(password, address):
        response = client.post("/api/v1/tokens", json={"name": "ci"}, auth=(user.username, password),
                               **from_address(address))
        return response.status_code, (response.get_json() or {}).get("error")

    assert [token_request(WRONG, HOME) for _ in range(5)] == [(401, "invalid_credentials")] * 5
    assert pair_locked_until(user, HOME) == frozen_clock.now + timedelta(minutes=30)
    assert token_request(PASSWORD, HOME) == (401, "invalid_credentials")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert token_request(PASSWORD, OFFICE) == (201, None)

    frozen_clock.move(minutes=30, seconds=1)
    assert token_request(PASSWORD, HOME) == (201, None)
    assert audit_actions(user) == ["login.failure"] * 5 + ["login.pair_locked", "login.refused", "login.success",
                                                           "login.success"]
    assert json.loads(db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "login.success")
                                        .limit(1))) == {"method": "api_token"}


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

    # Five wrong passwords from one address, alternating between the processes and between the API and the form.
    assert a("api", user.username, WRONG) == (401, "invalid_credentials")
    assert b("form", user.username, WRONG)[0] == 200
    assert a("form", user.username, WRONG)[0] == 200
    assert b("api", user.username, WRONG) == (401, "invalid_credentials")
    assert pair_locked_until(user) is None and failures(user) == 4
    assert a("api", user.username, WRONG) == (401, "invalid_credentials")
    assert pair_locked_until(user) == t0 + timedelta(minutes=30)

    # While locked, the right password is refused by both processes, by the API and by the form.
    assert a("api", user.username, PASSWORD) == (401, "invalid_credentials")
    assert b("api", user.username, PASSWORD) == (401, "invalid_credentials")
    assert a("form", user.username, PASSWORD)[0] == 200
    assert b("form", user.username, PASSWORD)[0] == 200

    # 30 minutes (and a second) later both processes accept it.
    later = (t0 + timedelta(minutes=30, seconds=1)).isoformat()
    assert a("freeze", later) == b("freeze", later) == "ok"
    assert a("api", user.username, PASSWORD) == (201, "created")
    status, location = b("form", user.username, PASSWORD)
    assert status == 302 and "/login" not in location

    assert audit_actions(user) == (["login.failure"] * 5 + ["login.pair_locked"] + ["login.refused"] * 4
                                   + ["login.success"] * 2)
    assert [d["failures_in_window"] for d in audit_details("login.failure")] == [1, 2, 3, 4, 5]
    assert chain.verify().ok


# ---- clearing expired counters -----------------------------------------------------------------------------


def test_the_purge_job_clears_only_expired_failure_counters_and_locks(app, factory, frozen_clock):
    user, other = factory.user(roles=(Role.sme_user,)), factory.user(roles=(Role.sme_user,))
    now = frozen_clock.now
    ages = [timedelta(hours=3), timedelta(minutes=20), timedelta(minutes=15), timedelta(minutes=14, seconds=59),
            timedelta(minutes=1)]
    with db.transaction():
        for age in ages:
            db.session.add(LoginFailure(user_id=user.id, failed_at=now - age, remote_addr="127.0.0.1"))
        # Locks that ended before the window bound no count any more; a later one still does.
        db.session.add(LoginLock(user_id=other.id, remote_addr="10.0.0.1", locked_until=now - timedelta(hours=1)))
        db.session.add(LoginLock(user_id=other.id, remote_addr="10.0.0.2", locked_until=now - timedelta(minutes=15)))
        db.session.add(LoginLock(user_id=other.id, remote_addr="10.0.0.3", locked_until=now - timedelta(minutes=5)))
        db.session.add(LoginLock(user_id=other.id, remote_addr="10.0.0.4", locked_until=now + timedelta(minutes=5)))
    (job,) = [j for j in JOBS if j.name == "purge_login_failures"]
    assert claims.run_once(job.name, claims.period_key(job.interval_seconds), job.work, lease_seconds=60)
    db.session.rollback()
    left = sorted(now - f for f in db.session.scalars(select(LoginFailure.failed_at)))
    assert left == [timedelta(minutes=1), timedelta(minutes=14, seconds=59)]
    assert sorted(db.session.scalars(select(LoginLock.remote_addr))) == ["10.0.0.3", "10.0.0.4"]

    # The counters that are left still count: three more failures lock the pair.
    with db.transaction():
        for _ in range(3):
            result = auth.authenticate(user.username, WRONG, remote_addr="127.0.0.1")
    assert result.error == "invalid_credentials"
    assert pair_locked_until(user) == now + timedelta(minutes=30)
