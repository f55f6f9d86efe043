"""The tamper-evident audit chain: concurrent appends, tamper detection, the append-only guard, verification
through the command line, the API and the page, and entries written in the decision's own transaction."""

import random
from contextlib import contextmanager
from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from instrument_share.accounts import organizations
from instrument_share.accounts.models import Organization
from instrument_share.accounts.roles import Role
from instrument_share.audit import chain
from instrument_share.audit.models import AuditEntry
from instrument_share.core import clock
from instrument_share.db import db

from .._procs import PROCESSES, audit_writer
from ..factories import Operator, login, post_form, valid_uscc

WRITERS, PER_WRITER = 16, 25


def build_chain(n: int) -> list[AuditEntry]:
    """Append n entries, one transaction each, as the platform does; keep the objects (a long-lived session)."""
    entries = []
    for i in range(n):
        with db.transaction():
            entries.append(chain.append("test.entry", object_type="thing", object_id=i,
                                        details={"i": i, "备注": "仪器共享"}))
    return entries


def is_postgres() -> bool:
    return db.dialect == "postgresql"


def switch_off_guard(conn) -> None:
    """What an attacker with DBA rights does first: remove the append-only triggers."""
    if is_postgres():
        conn.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
    else:
        conn.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")


@contextmanager
def attacker():
    """A separate database connection (not the platform's session) with the guard switched off; commits."""
    db.session.commit()  # the platform holds no open transaction (PostgreSQL ALTER TABLE would wait for it)
    with db.engine.begin() as conn:
        switch_off_guard(conn)
        yield conn
        if is_postgres():
            conn.exec_driver_sql("ALTER TABLE audit_entries ENABLE TRIGGER USER")


# ---- tampering, as SQL an attacker would run -------------------------------------------------------------


def edit(conn, seq: int) -> None:
    conn.execute(text("UPDATE audit_entries SET details = :d WHERE seq = :s"),
                 {"d": '{"i":-1,"备注":"改过"}', "s": seq})


def delete(conn, seq: int) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": seq})


def swap(conn, seq: int) -> None:
    """Reorder: entries seq and seq+1 change places."""
    for old, new in ((seq, -1), (seq + 1, seq), (-1, seq + 1)):
        conn.execute(text("UPDATE audit_entries SET seq = :new WHERE seq = :old"), {"new": new, "old": old})


def insert_forged(conn, seq: int) -> None:
    """Insert a forged entry at `seq`: later entries move up one place, and the forged entry carries a correct
    prev_hash and a correctly computed hash (the algorithm is public), so it fits where it was put."""
    conn.execute(text("UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= :s"), {"s": seq})
    conn.execute(text("UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000"))
    prev_hash = conn.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq - 1)) if seq > 1 \
        else chain.GENESIS_HASH
    forged = AuditEntry(seq=seq, at=datetime(2026, 12, 1, tzinfo=UTC), actor_id=None, actor_name="ghost",
                        organization_id=None, action="role.granted", object_type="user", object_id="1",
                        outcome="success", remote_addr=None, details='{"role":"system_admin"}', prev_hash=prev_hash)
    forged.hash = chain.entry_hash(forged)
    conn.execute(insert(AuditEntry.__table__).values(
        seq=forged.seq, at=forged.at, actor_name=forged.actor_name, action=forged.action,
        object_type=forged.object_type, object_id=forged.object_id, outcome=forged.outcome,
        details=forged.details, prev_hash=forged.prev_hash, hash=forged.hash))


def insert_naive(conn, seq: int) -> None:
    """Insert an entry at `seq` (later entries move up) whose hash was not chained to its predecessor."""
    conn.execute(text("UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= :s"), {"s": seq})
    conn.execute(text("UPDATE audit_entries SET seq = seq - 999999 WHERE seq >= 1000000"))
    conn.execute(insert(AuditEntry.__table__).values(
        seq=seq, at=datetime(2026, 12, 1, tzinfo=UTC), action="role.granted", outcome="success", details="{}",
        prev_hash=chain.GENESIS_HASH, hash="f" * 64))


# ---- the append-only guard ---------------------------------------------------------------------------------


def test_the_database_refuses_update_and_delete_of_audit_entries(app):
    build_chain(3)
    db.session.remove()
    statements = ["UPDATE audit_entries SET outcome = 'failure' WHERE seq = 2",
                  "DELETE FROM audit_entries WHERE seq = 3",
                  "UPDATE audit_entries SET seq = seq + 10"]
    if is_postgres():
        statements.append("TRUNCATE audit_entries")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, outcome FROM audit_entries ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [(1, "success"), (2, "success"), (3, "success")]
    assert chain.verify().ok


# ---- concurrent writers ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sixteen_concurrent_writer_processes_build_one_gapless_unforked_chain(app, database_url, tmp_path):
    start, results = PROCESSES.Barrier(WRITERS), PROCESSES.Queue()  # all begin together, once every one is ready
    procs = [PROCESSES.Process(target=audit_writer, args=(database_url, tmp_path, w, PER_WRITER, start, results))
             for w in range(WRITERS)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [err for _w, _seqs, err in reports if err]
    assert errors == []
    assert sorted(w for w, _s, _e in reports) == list(range(WRITERS))
    for _w, seqs, _e in reports:
        assert len(seqs) == PER_WRITER
        assert seqs == sorted(seqs)  # each writer's own appends keep their order

    total = WRITERS * PER_WRITER
    db.session.remove()
    rows = db.session.execute(select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.hash)
                              .order_by(AuditEntry.seq)).all()
    assert [r.seq for r in rows] == list(range(1, total + 1))  # gapless 1..N
    assert sorted(s for _w, seqs, _e in reports for s in seqs) == list(range(1, total + 1))
    assert len({r.prev_hash for r in rows}) == total  # no two entries claim the same predecessor: no fork
    assert [r.prev_hash for r in rows] == [chain.GENESIS_HASH] + [r.hash for r in rows[:-1]]
    result = chain.verify()
    assert (result.ok, result.entries, result.first_broken_seq) == (True, total, None)


# ---- detecting tampering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tamper", "seq", "broken_at", "problem"), [
    (edit, 4, 4, "entry content does not match its hash"),
    (delete, 4, 4, "sequence gap or reorder"),
    (swap, 4, 4, "previous hash does not match"),
    # The naive inserted entry is caught where it stands.
    (insert_naive, 4, 4, "previous hash does not match"),
    # A forged entry with a correctly computed hash fits its place; the first entry that no longer fits is the
    # genuine one after it, whose recorded predecessor is not the forged entry.
    (insert_forged, 4, 5, "previous hash does not match"),
], ids=["edited", "deleted", "reordered", "inserted", "inserted-with-forged-hash"])
def test_tampering_is_detected_at_the_first_broken_entry(app, tamper, seq, broken_at, problem):
    entries = build_chain(8)  # the platform's session keeps these objects, as a long-running process would
    assert chain.verify().ok
    with attacker() as conn:
        tamper(conn, seq)
    result = chain.verify()
    assert result.ok is False
    assert result.first_broken_seq == broken_at
    assert result.problem == problem
    # Everything before the break is still the genuine chain.
    stored = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq < broken_at)
                                .order_by(AuditEntry.seq)).all()
    assert [tuple(r) for r in stored] == [(e.seq, e.hash) for e in entries[:broken_at - 1]]


def test_verify_reads_the_stored_chain_not_objects_the_session_already_holds(app):
    """A long-lived process (the scheduler, a shell) that appended entries must still see a later edit."""
    entries = build_chain(5)  # still referenced: the session's identity map keeps these objects
    assert chain.verify().ok
    with attacker() as conn:
        edit(conn, 2)
    result = chain.verify()
    assert (result.ok, result.first_broken_seq) == (False, 2)
    assert len(entries) == 5


def test_random_single_row_tampering_is_detected_at_the_right_seq(app):
    n = 30
    build_chain(n)
    db.session.remove()
    rng = random.Random(20261201)
    cases = ([("edit", rng.randint(1, n)) for _ in range(12)] + [("delete", rng.randint(1, n - 1)) for _ in range(12)]
             + [("swap", rng.randint(1, n - 1)) for _ in range(12)]
             + [("insert", rng.randint(1, n)) for _ in range(12)])
    tamper = {"edit": edit, "delete": delete, "swap": swap, "insert": insert_forged}
    # A deleted last entry is a shortened chain, which only a daily anchor or a kept head reveals
    # (test_audit_anchors.py); the cases above therefore delete or swap entries that have a successor.
    detected = 0
    for kind, seq in cases:
        with db.engine.connect() as conn:
            trans = conn.begin()
            switch_off_guard(conn)
            tamper[kind](conn, seq)
            with Session(bind=conn) as session:
                result = chain.verify_entries(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
            trans.rollback()  # undo the tampering (and the guard change) for the next case
        expected = seq + 1 if kind == "insert" else seq
        assert (result.ok, result.first_broken_seq) == (False, expected), (kind, seq, result)
        detected += 1
    assert detected == len(cases) == 48
    assert chain.verify().ok  # every case was rolled back


# ---- verification for operators and the audit administrator --------------------------------------------


def test_flask_audit_verify_exit_code_and_broken_seq(app):
    build_chain(6)
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "OK: 6 entries" in intact.output
    with attacker() as conn:
        edit(conn, 3)
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code != 0
    assert "BROKEN at entry 3" in broken.output


def test_verify_api_is_for_the_audit_admin_only(app, client, factory):
    auditor = factory.user(factory.org("commission"), roles=(Role.audit_admin,), totp=True)
    others = [factory.user(roles=(Role.sme_user,)),
              factory.user(factory.org("commission"), roles=(Role.system_admin,), totp=True),
              factory.user(factory.org("commission"), roles=(Role.security_admin,), totp=True),
              factory.user(factory.org("commission"), roles=(Role.commission_officer,), totp=True)]
    headers = factory.bearer(auditor)
    response = client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    count = body["entries"]
    head = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc())).first()
    assert body == {"ok": True, "entries": count, "first_broken_seq": None, "problem": None,
                    "head_seq": head.seq, "head_hash": head.hash, "anchors_checked": 0, "anchor_mismatch": None}
    assert count == db.session.scalar(select(func.count()).select_from(AuditEntry)) == head.seq

    for user in others:
        refused = client.get("/api/v1/audit/verify", headers=factory.bearer(user))
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/audit/verify").status_code == 401

    with attacker() as conn:
        delete(conn, 2)
    body = client.get("/api/v1/audit/verify", headers=headers).get_json()
    assert (body["ok"], body["first_broken_seq"], body["problem"]) == (False, 2, "sequence gap or reorder")


def _sign_in(client, username: str, totp_secret: str | None) -> None:
    response = login(client, username)
    if totp_secret is None:
        assert response.status_code == 302 and "/login" not in response.headers["Location"]
        return
    assert response.status_code == 302 and "/login/totp" in response.headers["Location"]
    code = pyotp.TOTP(totp_secret).at(clock.now_utc())
    response = post_form(client, "/login/totp", {"code": code}, page="/login/totp")
    assert response.status_code == 302 and "/login" not in response.headers["Location"]


def test_verify_page_is_for_the_audit_admin_only(app, factory):
    commission = factory.org("commission")
    auditor, sysadmin, sme = (
        (u.username, u.totp_secret) for u in (factory.user(commission, roles=(Role.audit_admin,), totp=True),
                                              factory.user(commission, roles=(Role.system_admin,), totp=True),
                                              factory.user(roles=(Role.sme_user,))))

    # Each browser gets its own application context: the fixture's context would otherwise carry flask.g (and
    # Flask-Login's cached user) from one browser's requests into the next one's.
    with app.app_context():
        response = app.test_client().get("/audit/verify")
        assert response.status_code == 302 and "/login" in response.headers["Location"]

    for username, secret in (sysadmin, sme):
        with app.app_context():
            browser = app.test_client()
            _sign_in(browser, username, secret)
            assert browser.get("/audit/verify").status_code == 403
            assert browser.get("/audit/").status_code == 403

    with app.app_context():
        browser = app.test_client()
        with browser.session_transaction() as session:
            session["lang"] = "en"  # chosen before the first request: Flask-Babel keeps the locale per context
        _sign_in(browser, *auditor)
        entries = db.session.scalar(select(func.count()).select_from(AuditEntry))
        page = browser.get("/audit/verify")
        assert page.status_code == 200
        assert f"The chain is intact: {entries} entries verified" in page.get_data(as_text=True)

        with attacker() as conn:
            swap(conn, 3)
        page = browser.get("/audit/verify")
        assert page.status_code == 200
        assert "The chain is broken at entry 3" in page.get_data(as_text=True)


# ---- entries commit or roll back with the decision ---------------------------------------------------------


def test_an_audit_entry_commits_with_its_decision(app):
    uscc = valid_uscc()
    with db.transaction():
        org = organizations.create_organization(actor=Operator(), name="南京大学测试中心", uscc=uscc,
                                                kind="university")
    db.session.remove()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "org.created")).one()
    assert entry.object_id == str(org.id)
    assert db.session.scalar(select(Organization.id).where(Organization.uscc == uscc)) == org.id


def test_a_failing_transaction_leaves_neither_the_change_nor_its_entry(app):
    build_chain(2)
    uscc = valid_uscc()
    with pytest.raises(RuntimeError, match="after the decision"), db.transaction():
        org = organizations.create_organization(actor=Operator(), name="回滚测试单位", uscc=uscc, kind="university")
        organizations.verify_organization(actor=Operator(), org=org)
        written = db.session.scalars(select(AuditEntry.action).where(AuditEntry.seq > 2)).all()
        assert written == ["org.created", "org.verified"]  # written, not yet committed
        raise RuntimeError("something fails after the decision")
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(Organization).where(Organization.uscc == uscc)) == 0
    assert db.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all() == [1, 2]
    with db.transaction():
        after = chain.append("test.after_rollback")
    assert after.seq == 3  # the rolled-back entries left no gap
    assert chain.verify().ok
