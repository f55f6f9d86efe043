"""`flask reports generate` and `flask reports list` on the real database: files stored with their SHA-256 and
audited, re-runs make nothing new, bad input is refused with a clear message and writes nothing."""

import hashlib
import json

import pytest
from sqlalchemy import func, select

from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.files.models import StoredFile
from instrument_share.reporting import generation
from instrument_share.reporting.models import OperationReport

from ..reporting_support import entry, local, record, scene


@pytest.fixture
def quarter(factory, frozen_clock):
    """Third-quarter services of two units; the clock stands at 2026-12-01, so 2026Q3 is the last finished quarter."""
    s = scene(factory)
    for instrument, org, start, op, paid in [(s.a1, s.sme1, local(2026, 7, 3), s.unit_a.operator, 50_000),
                                             (s.a2, s.sme2, local(2026, 9, 30, 23), s.unit_a.operator, 33),
                                             (s.b1, s.sme1, local(2026, 8, 20), s.unit_b.operator, 120_000)]:
        rec = record(instrument, org, start=start, minutes=90, operator=op, fee_fen=paid)
        entry(rec, "payment", paid, start.date(), user=op)
    return s


def run(app, *args):
    return app.test_cli_runner().invoke(args=["reports", *args])


def reports(**where) -> list[OperationReport]:
    stmt = select(OperationReport).order_by(OperationReport.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(OperationReport, name) == value)
    return list(db.session.scalars(stmt))


def report_audits() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.generated")
                                   .order_by(AuditEntry.seq)))


def lines(out, state: str) -> list[list[str]]:
    return [line.split("\t") for line in out.stdout.splitlines() if line.startswith(state + "\t")]


def test_one_unit_stored_audited_and_a_second_run_makes_nothing_new(app, quarter):
    unit = quarter.unit_a.org
    out = run(app, "generate", "--unit", unit.uscc.lower())  # default quarter: the last finished one
    assert out.exit_code == 0, out.output
    made = reports()
    assert sorted((r.year, r.quarter, r.scope, r.unit_id, r.format) for r in made) == [
        (2026, 3, "unit", unit.id, "csv"), (2026, 3, "unit", unit.id, "xlsx")]
    printed = lines(out, "generated")
    assert {(p[1], p[7], p[8]) for p in printed} == {
        (f"report {r.id}", r.file.filename, f"sha256 {hashlib.sha256(r.file.data).hexdigest()}") for r in made}
    assert all(p[3] == f"unit {unit.uscc}" for p in printed)
    # The command made the services' report: the same bytes as rendering directly (the clock is frozen).
    csv_report = next(r for r in made if r.format == "csv")
    assert csv_report.file.data == generation.render(2026, 3, unit_id=unit.id, formats=("csv",))[0].content
    audits = report_audits()
    assert [int(a.object_id) for a in audits] == [r.id for r in made]
    for audit, report in zip(audits, made, strict=True):
        details = json.loads(audit.details)
        assert (audit.actor_name, audit.actor_id, audit.organization_id) == ("cli", None, unit.id)
        assert details["sha256"] == report.sha256 and details["scheduled"] is False
    assert "2026Q3: 2 generated, 0 already existed" in out.stderr

    again = run(app, "generate", "--unit", unit.uscc, "--quarter", "2026Q3")
    assert again.exit_code == 0, again.output
    assert lines(again, "generated") == [] and len(lines(again, "exists")) == 2
    assert "2026Q3: 0 generated, 2 already existed" in again.stderr
    assert len(reports()) == 2 and len(report_audits()) == 2
    assert db.session.scalar(select(func.count()).select_from(StoredFile)) == 2


def test_platform_then_everything_missing_then_nothing(app, quarter):
    out = run(app, "generate", "--platform", "--quarter", "2026q3")
    assert out.exit_code == 0, out.output
    assert {(r.unit_id, r.format) for r in reports()} == {(None, "csv"), (None, "xlsx")}
    assert {(p[3], p[4]) for p in lines(out, "generated")} == {("platform", "csv"), ("platform", "xlsx")}
    platform_ids = {r.id for r in reports()}

    # Without --unit or --platform: what the scheduled job would make, i.e. every unit's reports, and the
    # platform's are listed as already there.
    a, b = quarter.unit_a.org, quarter.unit_b.org
    out = run(app, "generate", "--quarter", "2026-Q3")
    assert out.exit_code == 0, out.output
    assert {(p[3], p[4]) for p in lines(out, "generated")} == {
        (f"unit {u.uscc}", f) for u in (a, b) for f in ("csv", "xlsx")}
    assert {int(p[1].split()[1]) for p in lines(out, "exists")} == platform_ids
    assert len(reports()) == 6 and len(report_audits()) == 6
    for audit in report_audits():
        report = db.session.get(OperationReport, int(audit.object_id))
        assert json.loads(audit.details)["sha256"] == report.file.sha256 == hashlib.sha256(report.file.data).hexdigest()

    out = run(app, "generate")
    assert out.exit_code == 0 and lines(out, "generated") == [] and len(lines(out, "exists")) == 6
    assert len(reports()) == 6 and len(report_audits()) == 6


def test_force_stores_a_fresh_version_beside_the_old_one(app, quarter):
    assert run(app, "generate", "--platform").exit_code == 0
    first = {r.id for r in reports()}
    out = run(app, "generate", "--platform", "--force")
    assert out.exit_code == 0, out.output
    assert {int(p[1].split()[1]) for p in lines(out, "exists")} == first
    assert len(lines(out, "generated")) == 2 and len(reports(unit_id=None)) == 4 and len(report_audits()) == 4
    refused = run(app, "generate", "--force")  # a fresh version of everything is not what --force is for
    assert refused.exit_code == 2 and "--force needs --unit USCC or --platform" in refused.output
    assert len(reports()) == 4


@pytest.mark.parametrize("args, code, message", [
    (["--quarter", "2026Q5"], 2, "'2026Q5' is not a quarter; write it as 2026Q3"),
    (["--quarter", "Q3 2026"], 2, "is not a quarter"),
    (["--quarter", "1999Q4"], 2, "the year must be from 2000 to 2100"),
    (["--quarter", "2026Q4"], 2, "2026Q4 has not ended yet (today is 2026-12-01)"),
    (["--quarter", "2027Q1", "--platform"], 2, "has not ended yet"),
    (["--unit", "91320100MA1XXXXXX0"], 1, "no organisation with USCC 91320100MA1XXXXXX0"),
    (["--unit", "ENTERPRISE"], 1, "has no instruments, so it has no operation report"),
    (["--unit", "UNIT_A", "--platform"], 2, "give --unit or --platform, not both"),
])
def test_bad_input_is_refused_clearly_and_writes_nothing(app, quarter, args, code, message):
    named = {"ENTERPRISE": quarter.sme1.uscc, "UNIT_A": quarter.unit_a.org.uscc}
    audits = db.session.scalar(select(func.count()).select_from(AuditEntry))
    out = run(app, "generate", *[named.get(a, a) for a in args])
    assert out.exit_code == code and message in out.output
    assert isinstance(out.exception, SystemExit) and "Traceback" not in out.output
    assert reports() == [] and db.session.scalar(select(func.count()).select_from(StoredFile)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audits


def test_list_filters_by_quarter_and_scope(app, quarter, frozen_clock):
    frozen_clock.move(days=365)  # 2027-12-01: 2026Q3 and 2027Q3 have both ended
    assert run(app, "generate", "--quarter", "2026Q3").exit_code == 0
    assert run(app, "generate", "--quarter", "2027Q3", "--unit", quarter.unit_b.org.uscc).exit_code == 0
    everything = run(app, "list")
    assert everything.exit_code == 0 and "8 reports" in everything.stderr
    stored = lines(everything, "stored")
    assert [p[2] for p in stored] == ["2026Q3"] * 6 + ["2027Q3"] * 2  # oldest quarter first, platform first
    assert stored[0][3] == "platform" and stored[6][3] == f"unit {quarter.unit_b.org.uscc}"
    only = run(app, "list", "--quarter", "2027Q3")
    assert [(p[3], p[4]) for p in lines(only, "stored")] == [(f"unit {quarter.unit_b.org.uscc}", "csv"),
                                                              (f"unit {quarter.unit_b.org.uscc}", "xlsx")]
    unit_b = run(app, "list", "--unit", quarter.unit_b.org.uscc)
    assert [p[2] for p in lines(unit_b, "stored")] == ["2026Q3", "2026Q3", "2027Q3", "2027Q3"]
    platform = run(app, "list", "--platform", "--quarter", "2026Q3")
    assert {(p[3], p[4]) for p in lines(platform, "stored")} == {("platform", "csv"), ("platform", "xlsx")}
    assert run(app, "list", "--quarter", "2026Q9").exit_code == 2
