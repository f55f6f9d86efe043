"""Formula injection (issue 13, hole 1): no export route hands out a cell a spreadsheet would run.

A provider names everything it lists with formulas; every CSV and XLSX the platform writes (catalogue, quarterly
reports, voucher reports, the import template) is read back cell by cell: no XLSX cell is a formula and no text
cell starts with a character that makes one.
"""

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook

from instrument_share.core import spreadsheet
from instrument_share.db import db
from instrument_share.reporting import generation
from instrument_share.reporting.models import OperationReport

from .._pages import sign_in
from ..catalogue_support import open_since, publish_civilian
from ..voucher_workflow_support import act, approved_claim, service, voucher_world

PAYLOADS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
            "\t=1+1", "\r=1+1"]
TEXT_FIELDS = ("name_zh", "name_en", "model", "manufacturer", "country", "serial_no", "location",
               "technical_indicators", "main_functions", "service_content", "fee_notes", "contact")


def formula_values() -> dict:
    return {name: PAYLOADS[i % len(PAYLOADS)] for i, name in enumerate(TEXT_FIELDS)}


def assert_inert_csv(body: bytes, where: str) -> int:
    text = body.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    live = [cell for cell in cells if cell.startswith(spreadsheet.FORMULA_TRIGGERS)]
    assert not live, f"{where}: cells a spreadsheet would run: {live}"
    return sum(cell.startswith("'") for cell in cells)


def assert_inert_xlsx(body: bytes, where: str) -> int:
    book = load_workbook(io.BytesIO(body))  # not read-only: data_type tells a formula from text
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    formulas = [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert not formulas, f"{where}: formula cells {formulas}"
    live = [cell.value for cell in cells if isinstance(cell.value, str)
            and cell.value.startswith(spreadsheet.FORMULA_TRIGGERS)]
    assert not live, f"{where}: text cells a spreadsheet would run: {live}"
    return sum(isinstance(cell.value, str) and cell.value.startswith("'") for cell in cells)


def assert_inert(response, where: str) -> int:
    assert response.status_code == 200, (where, response.status_code)
    body = response.get_data()
    if body[:2] == b"PK":
        return assert_inert_xlsx(body, where)
    return assert_inert_csv(body, where)


def test_the_writer_neutralises_every_trigger_and_types_xlsx_strings_as_text():
    rows = [[payload, 12, "普通文本", "a=b"] for payload in PAYLOADS]
    csv_rows = list(csv.reader(io.StringIO(spreadsheet.csv_bytes(rows).decode("utf-8-sig"), newline="")))
    assert [row[0] for row in csv_rows] == ["'" + p for p in PAYLOADS]
    assert csv_rows[0][1:] == ["12", "普通文本", "a=b"]
    sheet = load_workbook(io.BytesIO(spreadsheet.xlsx_bytes([("表", rows)]))).active
    assert [c.value for c in sheet["A"]] == ["'" + p for p in PAYLOADS]
    assert {c.data_type for c in sheet["A"]} == {"s"} and sheet["B1"].value == 12 and sheet["D1"].value == "a=b"


def test_every_export_route_hands_out_no_live_formula(app, client, factory, frozen_clock):
    world = voucher_world(factory)
    evil_unit = world.unit
    with db.transaction():
        db.session.merge(evil_unit.org).name = '=HYPERLINK("http://evil.example","unit")'
    evil = publish_civilian(evil_unit, service_modes=["machine_time"], fee_per_hour_fen=50_000, **formula_values())
    open_since(evil, frozen_clock.now - timedelta(days=365))  # listed before its service (measure 19)
    paid = approved_claim(client, world, [service(world, instrument=evil)])
    frozen_clock.move(days=7)
    assert act(client, world, paid.id, "pay", "officer", {"paid_on": "2026-12-08", "payment_ref": "=1+2"}
               ).status_code == 200
    with db.transaction():
        for item in generation.render(2026, 4, unit_id=None) + generation.render(2026, 4, unit_id=evil_unit.org.id):
            generation._save(item)
    reports = db.session.query(OperationReport).all()
    assert len(reports) == 4

    neutralised = 0
    for fmt in ("csv", "xlsx"):  # the anonymous catalogue export
        neutralised += assert_inert(client.get(f"/instruments/export.{fmt}"), f"catalogue {fmt}")
    assert neutralised >= 2 * len(TEXT_FIELDS)  # the listing really is in the files, every text field neutralised
    neutralised = 0
    sign_in(client, factory, world.officer)
    for report in ("claims", "payouts", "enterprises", "providers"):
        for fmt in ("csv", "xlsx"):
            neutralised += assert_inert(client.get(f"/vouchers/exports/{report}.{fmt}?year=2026"),
                                        f"voucher {report} {fmt}")
    assert neutralised > 0
    neutralised = 0
    for report in reports:
        neutralised += assert_inert(client.get(f"/reports/{report.id}/download"), f"report {report.id}")
    assert neutralised >= 4  # the instrument's name in each report
    operator = app.test_client()
    sign_in(operator, factory, evil_unit.operator)
    assert_inert(operator.get("/provider/instruments/import/template.csv"), "import template")


SPREADSHEET_ROUTES = {"catalogue.export", "voucher_audit.export_file", "reports.download",
                      "catalogue_import.template",
                      "catalogue_import.job_errors"}  # a failed import job's report: test_catalogue_import_jobs.py
PAGES_ABOUT_EXPORTS = {"voucher_audit.export_index"}  # HTML pages that only link to the files above


def test_every_spreadsheet_route_is_covered_above(app):
    """A new route that hands out CSV or XLSX must be added to the test above (and write through core.spreadsheet)."""
    suspects = {rule.endpoint for rule in app.url_map.iter_rules()
                if any(mark in rule.rule for mark in (".csv", ".xlsx", "export", "download"))}
    uncovered = sorted(suspects - SPREADSHEET_ROUTES - PAGES_ABOUT_EXPORTS)
    assert not uncovered, f"cover these in test_every_export_route_hands_out_no_live_formula: {uncovered}"


def test_only_the_one_writer_makes_spreadsheets():
    """csv.writer and openpyxl's Workbook appear in core/spreadsheet.py alone, so no export can bypass it."""
    from pathlib import Path

    package = Path(spreadsheet.__file__).resolve().parent.parent
    writers = [str(path.relative_to(package)) for path in package.rglob("*.py")
               if path.name != "spreadsheet.py" and any(mark in path.read_text(encoding="utf-8")
                                                        for mark in ("csv.writer(", "Workbook(", "DictWriter("))]
    assert not writers, f"write spreadsheets through instrument_share.core.spreadsheet: {writers}"
