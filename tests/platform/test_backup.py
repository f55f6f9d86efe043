"""`flask backup create` while the platform writes, and `flask backup restore` into a fresh database.

A background thread keeps recording services and payments through the services while the backup is taken. The
backup is then restored into a fresh database (a new SQLite file; on PostgreSQL a throw-away server's empty
database), and the restored database must be exactly the live one at the backup's moment:

Every ledger write appends its audit entry in the same transaction, and appends are serialised until commit, so
commits happen in audit-sequence order and a consistent backup holds exactly the transactions up to some audit
entry H. The restored chain must therefore verify and be the live chain's first H entries (same hashes), its
ledger entries must be exactly the live entries recorded by entries 1..H, and its totals their totals.
"""

import contextlib
import json
import sqlite3
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from instrument_share import backup
from instrument_share.audit.models import AuditEntry
from instrument_share.core.clock import local_today
from instrument_share.db import db
from instrument_share.ledger import entries, service_records
from instrument_share.ledger.models import RevenueEntry

from ..conftest import BACKEND, make_test_app
from ..ledger_support import make_ledger

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from pg_throwaway import throwaway_cluster


class Writer(threading.Thread):
    """Records a service and takes its payment, one transaction each, until stopped."""

    def __init__(self, app, lg):
        super().__init__(daemon=True)
        self.app, self.lg = app, lg
        self.stop, self.done, self.error = threading.Event(), threading.Semaphore(0), None

    def run(self):
        try:
            with self.app.app_context():
                operator, instrument = db.session.merge(self.lg.op1), db.session.merge(self.lg.instrument)
                org = db.session.merge(self.lg.alice.org)
                start = self.lg.factory.now + timedelta(minutes=1)  # after the listing was published
                while not self.stop.is_set():
                    with db.transaction():
                        record = service_records.record_standalone(
                            actor=operator, instrument=instrument, organization=org, mode="sample_testing",
                            actual_start=start, actual_end=start + timedelta(minutes=1), samples=1)
                    with db.transaction():
                        entries.append_entry(actor=operator, record=record, kind="payment", amount_fen=record.fee_fen,
                                             entry_date=local_today())
                    self.done.release()
                db.session.remove()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.done.release()

    def wait_for(self, writes: int) -> None:
        for _ in range(writes):
            assert self.done.acquire(timeout=60), "the writer stopped"
            assert self.error is None, self.error


@pytest.fixture
def lg(app, factory, frozen_clock):
    world = make_ledger(factory, service_modes=["sample_testing"])
    factory.now = frozen_clock.now
    return world


def cli(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


def chain_hashes() -> dict[int, str]:
    db.session.rollback()
    return dict(db.session.execute(select(AuditEntry.seq, AuditEntry.hash)).all())


def entries_by_seq() -> dict[int, tuple]:
    """Ledger entries keyed by the audit entry that recorded them."""
    db.session.rollback()
    recorded = select(AuditEntry.seq, AuditEntry.object_id).where(AuditEntry.object_type == "revenue_entry")
    seqs = {int(object_id): seq for seq, object_id in db.session.execute(recorded)}
    return {seqs[e.id]: (e.id, e.kind, e.direction, e.amount_fen) for e in db.session.scalars(select(RevenueEntry))}


def totals(rows) -> dict:
    out = {"charge": 0, "payment": 0, "refund": 0, "debit": 0, "credit": 0}
    for _id, kind, direction, amount in rows:
        out[direction if kind == "adjustment" else kind] += amount
    return out


@contextlib.contextmanager
def fresh_database(tmp_path):
    if BACKEND == "postgresql":
        with throwaway_cluster() as cluster:
            yield cluster.url
    else:
        yield f"sqlite:///{tmp_path / 'fresh' / 'restored.sqlite3'}"


def test_backup_taken_while_writing_restores_exactly_its_moment(app, lg, tmp_path, report_figure):
    writer = Writer(app, lg)
    writer.start()
    try:
        writer.wait_for(3)
        head_before = max(chain_hashes())
        made = cli(app, "backup", "create", "--output", tmp_path / "backups")
        writer.wait_for(3)  # and the writes go on after the backup
    finally:
        writer.stop.set()
        writer.join(60)
    assert made.exit_code == 0, made.output
    assert writer.error is None, writer.error
    [file] = (tmp_path / "backups").iterdir()
    assert file.stat().st_mode & 0o077 == 0  # readable by its owner only
    live_chain, live_entries = chain_hashes(), entries_by_seq()
    recorded = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "backup.created"))
    assert json.loads(recorded.details)["sha256"] == backup.sha256_of(file)

    with fresh_database(tmp_path) as url:
        restore_app = make_test_app(url, tmp_path / "restoring")
        try:
            with restore_app.app_context():
                restored = cli(restore_app, "backup", "restore", file, "--yes")
                assert restored.exit_code == 0, restored.output
                assert "audit chain OK" in restored.output
                chain, ledger = chain_hashes(), entries_by_seq()
                last = db.session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
                restored_totals = backup.ledger_totals()
                db.session.remove()
        finally:
            db.engine.dispose()

    head = last.seq - 1  # the restore itself is recorded after the restored chain
    assert last.action == "backup.restored" and json.loads(last.details)["restored_head_seq"] == head
    assert head_before <= head < max(live_chain)  # the live chain went on after the backup's moment
    assert {seq: h for seq, h in chain.items() if seq <= head} == {s: h for s, h in live_chain.items() if s <= head}
    at_backup = {seq: row for seq, row in live_entries.items() if seq <= head}
    assert ledger == at_backup and at_backup
    assert len(live_entries) > len(at_backup)
    expected = totals(at_backup.values())
    assert (restored_totals.charged_fen, restored_totals.paid_fen) == (expected["charge"], expected["payment"])
    assert f"payments ¥{expected['payment'] // 100:,}.{expected['payment'] % 100:02d}" in restored.output
    report_figure(f"backup ({BACKEND}): taken while writing and restored: audit chain OK ({head} entries, the "
                  f"live chain had {max(live_chain)}), ledger identical ({len(at_backup)} entries)")


def test_restore_is_refused_while_another_process_uses_the_database(app, lg, tmp_path, database_url):
    made = cli(app, "backup", "create", "--output", tmp_path)
    assert made.exit_code == 0, made.output
    [file] = tmp_path.glob("instrument_share-*")
    cli(app, "backup", "create", "--output", tmp_path / "later")  # the live chain now differs from the backup
    live = chain_hashes()
    with _another_process(database_url):
        refused = cli(app, "backup", "restore", file, "--yes")
    assert refused.exit_code == 1
    assert "stop the web servers and the scheduler" in refused.output
    assert chain_hashes() == live


def test_a_file_that_is_not_a_backup_changes_nothing(app, lg, tmp_path):
    live = chain_hashes()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a database at all" * 100)
    refused = cli(app, "backup", "restore", junk, "--yes")
    assert refused.exit_code == 1
    assert "not a" in refused.output
    assert chain_hashes() == live


def test_restore_asks_before_replacing_the_database(app, lg, tmp_path):
    made = cli(app, "backup", "create", "--output", tmp_path)
    assert made.exit_code == 0, made.output
    [file] = tmp_path.glob("instrument_share-*")
    answer = app.test_cli_runner().invoke(args=["backup", "restore", str(file)], input="n\n")
    assert answer.exit_code == 1 and "Aborted" in answer.output


def test_a_missing_postgresql_program_is_named():
    with pytest.raises(backup.BackupError, match="pg_nonexistent not found: install the PostgreSQL client"):
        backup.find_binary("pg_nonexistent")


@contextlib.contextmanager
def _another_process(url: str):
    """A connection of another program, held open (an idle gunicorn worker keeps one in its pool)."""
    if BACKEND == "postgresql":
        import psycopg

        uri, _env = backup.pg_connection(url)
        with psycopg.connect(uri) as conn:
            conn.execute("SELECT 1")
            yield
    else:
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("SELECT count(*) FROM audit_entries").fetchone()
        try:
            yield
        finally:
            conn.close()
