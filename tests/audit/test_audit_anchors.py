"""Daily anchors of the audit chain (issue 13, part 6): a deleted or rewritten tail no longer passes verification.

Everything is driven as an operator and an attacker would: the scheduler through `flask scheduler tick`, the
check through `flask audit verify` and the API, tampering as SQL on a separate connection with the append-only
triggers switched off (as tests/conftest.py does for teardown).
"""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from instrument_share.accounts.roles import Role
from instrument_share.audit import chain
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db

from ..conftest import BACKEND
from ..factories import english, login, post_form

# The frozen clock starts at 2026-12-01 10:00 in Nanjing; the anchor of that day is taken on the next local day.
DAY = "2026-12-01"
GUARDED = ("audit_entries", "audit_anchors")


def append(n: int, label: str = "test.entry") -> list[int]:
    seqs = []
    for i in range(n):
        with db.transaction():
            seqs.append(chain.append(label, object_type="thing", object_id=i, details={"i": i}).seq)
    return seqs


def tick(app, job: str = "audit_anchor") -> None:
    result = app.test_cli_runner().invoke(args=["scheduler", "tick", job])
    assert result.exit_code == 0, result.output
    db.session.remove()


def verify_cli(app, *args: str):
    db.session.remove()
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def anchors_rows() -> list[tuple]:
    db.session.remove()
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT day, seq, hash FROM audit_anchors ORDER BY day"))]


def head() -> tuple[int, str]:
    db.session.remove()
    row = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc())).first()
    return row.seq, row.hash


@contextmanager
def attacker():
    """A separate connection with the append-only triggers of entries and anchors switched off; commits."""
    db.session.remove()
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            for table in GUARDED:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for table in GUARDED:
                for kind in ("update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{kind}")
        yield conn
        if db.dialect == "postgresql":
            for table in GUARDED:
                conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def delete_tail(conn, from_seq: int) -> None:
    conn.execute(text("DELETE FROM audit_entries WHERE seq >= :s"), {"s": from_seq})


def rewrite_tail(conn, from_seq: int) -> None:
    """Change entry from_seq and recompute every hash from there on: the rewritten chain links perfectly."""
    table = AuditEntry.__table__
    rows = conn.execute(select(table).where(table.c.seq >= from_seq - 1).order_by(table.c.seq)).mappings().all()
    prev_hash = rows[0]["hash"] if rows[0]["seq"] < from_seq else chain.GENESIS_HASH
    for row in rows:
        if row["seq"] < from_seq:
            continue
        entry = AuditEntry(**dict(row))
        if entry.seq == from_seq:
            entry.details = '{"i":-1}'
        entry.prev_hash = prev_hash
        entry.hash = chain.entry_hash(entry)
        conn.execute(update(table).where(table.c.seq == entry.seq).values(
            details=entry.details, prev_hash=entry.prev_hash, hash="pending-" + str(entry.seq)))
        conn.execute(update(table).where(table.c.seq == entry.seq).values(hash=entry.hash))
        prev_hash = entry.hash


@pytest.fixture
def anchored_day(app, frozen_clock):
    """Entries on 2026-12-01 (the last one at 23:30 Nanjing time), then the first tick after midnight."""
    append(5)
    frozen_clock.move(hours=13, minutes=30)  # 2026-12-01 23:30 local
    last_of_day = append(1)[0]
    frozen_clock.move(hours=1)  # 2026-12-02 00:30 local: a new day, not part of the anchor
    append(1)
    frozen_clock.move(minutes=30)
    tick(app)
    return last_of_day


# ---- the scheduler job ---------------------------------------------------------------------------------------


def test_the_job_anchors_the_last_entry_of_the_local_day_once_and_mails_the_audit_admins(app, factory,
                                                                                         frozen_clock):
    commission = factory.org("commission")
    admins = [factory.user(commission, roles=(Role.audit_admin,), totp=True) for _ in range(2)]
    gone = factory.user(commission, roles=(Role.audit_admin,), totp=True)
    with db.transaction():
        db.session.merge(gone).is_disabled = True
    factory.user(commission, roles=(Role.security_admin,), totp=True)
    frozen_clock.move(hours=13, minutes=30)  # 2026-12-01 23:30 local
    last_of_day = append(1)[0]
    frozen_clock.move(hours=1)  # 00:30 on 2026-12-02
    after_midnight = append(1)[0]

    tick(app)
    tick(app)  # a second tick, and a full `flask scheduler tick`, on the same day change nothing
    assert app.test_cli_runner().invoke(args=["scheduler", "tick"]).exit_code == 0
    db.session.remove()

    _day, seq, hash_ = anchors_rows()[0]
    assert [(str(d), s) for d, s, _h in anchors_rows()] == [(DAY, last_of_day)]
    assert hash_ == db.session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == last_of_day))
    recorded = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.anchored")).all()
    assert len(recorded) == 1
    assert recorded[0].seq > after_midnight > seq  # the anchor's own entry comes after the head it names
    assert chain.canonical_json({"date": DAY, "hash": hash_, "seq": seq}) == recorded[0].details

    mails = [m for m in factory.outbox() if "--expect-head" in m.body]
    assert sorted(m.recipient for m in mails) == sorted(a.email for a in admins)
    assert all(f"--expect-head {seq}:{hash_}" in m.body and DAY in m.subject for m in mails)
    assert all("/transparency/audit-anchors" in m.body for m in mails)

    frozen_clock.move(days=1)
    tick(app)
    assert [str(d) for d, _s, _h in anchors_rows()] == [DAY, "2026-12-02"]
    assert anchors_rows()[1][1] >= recorded[0].seq  # the next day's anchor covers the previous anchor's entry
    assert verify_cli(app).exit_code == 0


def test_the_database_refuses_to_change_or_delete_an_anchor(app, anchored_day):
    statements = ["UPDATE audit_anchors SET seq = 1", "DELETE FROM audit_anchors"]
    if db.dialect == "postgresql":
        statements.append("TRUNCATE audit_anchors")
    before = anchors_rows()
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert anchors_rows() == before and len(before) == 1


# ---- detection -----------------------------------------------------------------------------------------------


def test_a_deleted_tail_is_detected_by_the_stored_anchor(app, client, factory, anchored_day, report_figure):
    auditor = factory.user(factory.org("commission"), roles=(Role.audit_admin,), totp=True)
    headers = factory.bearer(auditor)
    intact = verify_cli(app)
    assert intact.exit_code == 0, intact.output
    assert "1 anchors checked" in intact.output
    body = client.get("/api/v1/audit/verify", headers=headers).get_json()
    head_seq, head_hash = head()
    assert body == {"ok": True, "entries": head_seq, "first_broken_seq": None, "problem": None,
                    "head_seq": head_seq, "head_hash": head_hash, "anchors_checked": 1, "anchor_mismatch": None}

    with attacker() as conn:
        delete_tail(conn, anchored_day - 1)  # the anchored entry and everything after it
    broken = verify_cli(app)
    assert broken.exit_code == 1
    assert f"BROKEN at entry {anchored_day - 1}: chain ends before an anchored entry" in broken.output
    assert f"entry {anchored_day} named by the anchor of {DAY} is beyond the chain's end" in broken.output
    body = client.get("/api/v1/audit/verify", headers=headers).get_json()
    assert (body["ok"], body["first_broken_seq"], body["head_seq"]) == (False, anchored_day - 1, anchored_day - 2)
    assert body["anchor_mismatch"] == {"date": DAY, "seq": anchored_day}
    assert body["anchors_checked"] == 1
    report_figure(f"audit truncation ({BACKEND}): the tail from entry {anchored_day - 1} deleted after an anchor: "
                  f"detected (flask audit verify exit 1, GET /audit/verify ok false)")

    username, code = auditor.username, factory.totp_code(auditor)
    db.session.remove()  # the browser's requests load the account afresh, as a new request in production does
    with app.app_context():  # a browser of its own (see test_audit_chain.py)
        browser = app.test_client()
        english(browser)
        assert "/login/totp" in login(browser, username).headers["Location"]
        post_form(browser, "/login/totp", {"code": code}, page="/login/totp")
        page = browser.get("/audit/verify").get_data(as_text=True)
    assert f"The anchor of {DAY} names entry {anchored_day}" in page


def test_a_rewritten_tail_that_links_again_is_detected_by_the_anchor(app, client, factory, anchored_day):
    auditor = factory.user(factory.org("commission"), roles=(Role.audit_admin,), totp=True)
    with attacker() as conn:
        rewrite_tail(conn, anchored_day - 2)
    assert chain.verify_entries(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))).ok  # links
    broken = verify_cli(app)
    assert broken.exit_code == 1
    assert f"BROKEN at entry {anchored_day}: entry does not match its anchor" in broken.output
    assert "has another hash in the chain: entries were rewritten" in broken.output
    body = client.get("/api/v1/audit/verify", headers=factory.bearer(auditor)).get_json()
    assert (body["ok"], body["first_broken_seq"], body["anchor_mismatch"]) == (
        False, anchored_day, {"date": DAY, "seq": anchored_day})


def test_expect_head_detects_a_cut_tail_even_when_the_anchors_were_deleted_too(app, factory, frozen_clock):
    auditor = factory.user(factory.org("commission"), roles=(Role.audit_admin,), totp=True)
    append(4)
    frozen_clock.move(days=1)
    tick(app)
    mail = factory.outbox(auditor.email)[-1].body
    kept = re.search(r"--expect-head (\d+:[0-9a-f]{64})", mail).group(1)  # the administrator's own copy
    seq = int(kept.split(":")[0])
    append(2)
    assert verify_cli(app, "--expect-head", kept).exit_code == 0

    with attacker() as conn:
        delete_tail(conn, seq)
        conn.execute(text("DELETE FROM audit_anchors"))
    assert verify_cli(app).exit_code == 0  # what is left links, and no stored anchor remembers the head
    cut = verify_cli(app, "--expect-head", kept)
    assert cut.exit_code == 1
    assert f"entry {seq} named by --expect-head is beyond the chain's end: entries were deleted" in cut.output

    other = verify_cli(app, "--expect-head", f"{seq - 2}:{'a' * 64}")
    assert other.exit_code == 1
    assert f"entry {seq - 2} named by --expect-head has another hash in the chain" in other.output
    assert verify_cli(app, "--expect-head", "12:not-a-hash").exit_code == 2  # a usage error, not a verdict


# ---- publication -----------------------------------------------------------------------------------------------


def test_the_anchors_are_public_on_a_page_and_in_the_api_newest_first(app, frozen_clock, anchored_day):
    frozen_clock.move(days=1)
    tick(app)
    rows = anchors_rows()
    assert len(rows) == 2
    anonymous = app.test_client()
    body = anonymous.get("/api/v1/audit/anchors").get_json()
    assert body["items"] == [{"date": str(d), "seq": s, "hash": h} for d, s, h in reversed(rows)]
    assert (body["page"], body["total"]) == (1, 2)
    second = anonymous.get("/api/v1/audit/anchors?per_page=1&page=2").get_json()
    assert second["items"] == [{"date": DAY, "seq": anchored_day, "hash": rows[0][2]}]

    page = anonymous.get("/transparency/audit-anchors")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "审计链锚点" in html and rows[0][2] in html and DAY in html
    footer = anonymous.get("/").get_data(as_text=True)
    assert 'href="/transparency/audit-anchors"' in footer  # linked from the footer
