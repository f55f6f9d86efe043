"""Quarterly operation reports: content equals the database to the fen, XLSX read back, job idempotency, audit."""

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.ledger.models import ServiceRecord
from instrument_share.reporting import generation
from instrument_share.reporting.models import OperationReport
from instrument_share.reporting.reports import KEYS

from ..catalogue_support import civilian_unit, publish_civilian
from ..reporting_support import db_sum, entry, local, rate, record, scene

Q3 = (date(2026, 7, 1), date(2026, 10, 1))


def _quarter(factory):
    """Third-quarter services with payments, refunds and ratings; plus noise just outside the quarter."""
    s = scene(factory)
    a, b = s.unit_a.operator, s.unit_b.operator
    plan = [(s.a1, s.sme1, local(2026, 7, 1, 0, 0), 95, a, [("payment", 79_167), ("refund", 1)]),
            (s.a1, s.sme2, local(2026, 8, 12), 61, a, [("payment", 50_834)]),
            (s.a2, s.unit_a.org, local(2026, 9, 30, 23, 59), 30, a, [("payment", 33)]),
            (s.b1, s.sme1, local(2026, 9, 2), 240, b, [("payment", 200_000), ("refund", 50_000)])]
    for instrument, org, start, minutes, op, entries in plan:
        rec = record(instrument, org, start=start, minutes=minutes, operator=op, fee_fen=1000)
        entry(rec, "charge", 1000, start.date(), user=op)
        for kind, amount in entries:
            entry(rec, kind, amount, start.date(), user=op)
    rate(db.session.get(ServiceRecord, 1), 4, user=s.sme1_user)
    # Outside the quarter: 2026-06-30 23:59 and 2026-10-01 00:00 local; a payment entered on 2026-10-01.
    early = record(s.a1, s.sme1, start=local(2026, 6, 30, 23, 59), minutes=500, operator=a)
    entry(early, "payment", 7_777, date(2026, 6, 30), user=a)
    late = record(s.a1, s.sme1, start=datetime(2026, 9, 30, 16, 0, tzinfo=UTC), minutes=700, operator=a)
    entry(late, "payment", 8_888, date(2026, 10, 1), user=a)
    return s


def _reports(**where):
    stmt = select(OperationReport).order_by(OperationReport.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(OperationReport, name) == value)
    return list(db.session.scalars(stmt))


def _rows(table: list[list]) -> tuple[dict, list]:
    """Instrument rows by id, and the totals row (the last)."""
    body = table[1:]
    return {int(r[0]): dict(zip(KEYS, r, strict=True)) for r in body[:-1]}, dict(zip(KEYS, body[-1], strict=True))


def test_the_xlsx_platform_report_read_back_equals_the_database(factory):
    s = _quarter(factory)
    with db.transaction():
        made = generation.generate(2026, 3, unit_id=None)
    xlsx = next(r for r in made if r.format == "xlsx")
    book = load_workbook(io.BytesIO(xlsx.file.data), read_only=True)
    table = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    rows, total = _rows(table)
    assert set(rows) == {s.a1.id, s.a2.id, s.b1.id}
    a1 = rows[s.a1.id]
    assert (a1["effective_minutes"], a1["external_minutes"], a1["services"], a1["external_users"]) == (156, 156, 2, 2)
    assert (a1["revenue_fen"], a1["payments_fen"], a1["refunds_fen"]) == (130_000, 130_001, 1)
    assert (a1["instrument"], a1["district"], a1["rating_avg"], a1["ratings"]) == ("扫描电镜A1", "玄武区", 4, 1)
    assert rows[s.a2.id]["sharing_rate_bp"] == 0 and rows[s.b1.id]["revenue_fen"] == 150_000
    # The totals equal the ledger and the service records to the fen / minute.
    revenue = db_sum("payment", entry_date=Q3) - db_sum("refund", entry_date=Q3)
    assert total["revenue_fen"] == revenue == sum(r["revenue_fen"] for r in rows.values()) == 280_033
    minutes = db.session.scalar(select(func.sum(ServiceRecord.effective_minutes)).where(
        ServiceRecord.start_local_date >= Q3[0], ServiceRecord.start_local_date < Q3[1]))
    assert total["effective_minutes"] == minutes == 426
    assert total["external_minutes"] == 396 and total["sharing_rate_bp"] == 9296  # 396/426 = 92.957...%
    assert total["external_users"] == 2  # sme1 and sme2, counted once across instruments
    assert Decimal(str(total["revenue_yuan"])) == Decimal("2800.33")


def test_a_unit_csv_report_has_a_bom_and_only_the_units_instruments(factory):
    s = _quarter(factory)
    with db.transaction():
        made = generation.generate(2026, 3, unit_id=s.unit_a.org.id, formats=("csv",))
    data = made[0].file.data
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    rows, total = _rows(table)
    assert set(rows) == {s.a1.id, s.a2.id}
    unit_range = {"unit_id": s.unit_a.org.id, "entry_date": Q3}
    assert int(total["revenue_fen"]) == db_sum("payment", **unit_range) - db_sum("refund", **unit_range) == 130_033
    assert (total["effective_minutes"], total["external_users"], total["revenue_yuan"]) == ("186", "2", "1300.33")


def test_the_job_makes_only_what_is_missing_and_audits_each_file_with_its_sha256(app, factory, frozen_clock):
    s = _quarter(factory)
    frozen_clock.move(days=0)  # 2026-12-01: the previous quarter is 2026Q3
    with db.transaction():
        generation.generate(2026, 3, unit_id=s.unit_b.org.id, formats=("xlsx",))  # one made by hand before
    assert generation.generate_due() == "2026Q3 made=5"
    reports = _reports(year=2026, quarter=3)
    assert sorted((r.unit_id or 0, r.format) for r in reports) == sorted(
        [(0, "csv"), (0, "xlsx"), (s.unit_a.org.id, "csv"), (s.unit_a.org.id, "xlsx"),
         (s.unit_b.org.id, "csv"), (s.unit_b.org.id, "xlsx")])
    # A later run finds nothing missing and stores nothing.
    frozen_clock.move(hours=1)
    assert generation.generate_due() == "2026Q3 made=0"
    assert len(_reports(year=2026, quarter=3)) == 6
    # A unit that lists its first instrument later gets its (empty) reports at the next run, and only it.
    late = civilian_unit(factory)
    publish_civilian(late)
    frozen_clock.move(hours=1)
    assert generation.generate_due() == "2026Q3 made=2"
    assert sorted(r.format for r in _reports(year=2026, quarter=3, unit_id=late.org.id)) == ["csv", "xlsx"]
    assert len(_reports(year=2026, quarter=3)) == 8
    audits = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.generated")))
    assert len(audits) == 8
    for audit in audits:
        report = db.session.get(OperationReport, int(audit.object_id))
        details = json.loads(audit.details)
        assert details["sha256"] == report.sha256 == report.file.sha256 == hashlib.sha256(report.file.data).hexdigest()
        assert details["scheduled"] is (report.generated_by_id is None)


def test_on_demand_generation_makes_a_new_version(factory):
    s = _quarter(factory)
    for _ in range(2):
        with db.transaction():
            generation.generate(2026, 3, unit_id=s.unit_a.org.id, actor=s.unit_a.operator)
    assert len(_reports(unit_id=s.unit_a.org.id)) == 4
    assert all(r.generated_by_id == s.unit_a.operator.id for r in _reports())


def test_files_another_process_stored_meanwhile_are_not_stored_twice(app, factory, frozen_clock):
    """The job renders outside the write transaction; what appeared meanwhile is skipped when it stores."""
    s = _quarter(factory)
    rendered = generation.render_missing(2026, 3)
    assert {(r.unit_id, r.fmt) for r in rendered} >= {(None, "csv"), (None, "xlsx")}
    with db.transaction():
        generation.generate(2026, 3, unit_id=None)  # another scheduler or a person, first
    with db.transaction():
        stored = generation.store_rendered(rendered, only_missing=True)
    assert {(r.unit_id, r.format) for r in stored} == {(r.unit_id, r.fmt) for r in rendered} - {(None, "csv"),
                                                                                                   (None, "xlsx")}
    assert {(r.unit_id, r.format) for r in _reports(year=2026, quarter=3)} == {(r.unit_id, r.fmt) for r in rendered}
    assert s.unit_a.org.id in {r.unit_id for r in stored}
