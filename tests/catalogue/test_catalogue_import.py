"""Bulk import of a unit's catalogue (issue 3 item 8): CSV/XLSX, dry run report, all-or-nothing, CLI and pages."""

import hashlib
import io
import json
from datetime import date, datetime

import pytest
from flask import g
from openpyxl import Workbook
from sqlalchemy import func, select

from instrument_share.audit.chain import verify
from instrument_share.audit.models import AuditEntry
from instrument_share.catalogue import importer
from instrument_share.catalogue.fields import FIELDS
from instrument_share.catalogue.models import Instrument, InstrumentSearchRow
from instrument_share.catalogue.search import SearchParams, search
from instrument_share.catalogue.visibility import ANONYMOUS, viewer_for
from instrument_share.core.errors import Conflict, PermissionDenied, ValidationFailed
from instrument_share.db import db
from instrument_share.files.models import StoredFile

from ..catalogue_support import HEADERS, csv_bytes, row, table
from ..factories import csrf_from, login


def xlsx_bytes(cells: list[list]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("仪器")
    for line in cells:
        sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    """A fresh `g` and database view per request, as in production (the app fixture's context is reused)."""

    def reset():
        vars(g).clear()
        db.session.rollback()

    app.before_request_funcs.setdefault(None, []).insert(0, reset)


@pytest.fixture
def unit(factory):
    return factory.org("university", name="南京测试大学")


@pytest.fixture
def operator(factory, unit):
    return factory.user(unit, ("provider_operator",))


def run_import(user, data: bytes, filename: str = "目录.csv", **kwargs):
    with db.transaction():
        user = db.session.merge(user)
        return importer.import_rows(user, user.organization, importer.parse_file(data, filename), **kwargs)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def import_entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")))


def test_a_10000_row_csv_imports_as_drafts_with_search_rows_and_one_audit_entry(app, unit, operator):
    data = csv_bytes(table([row(i) for i in range(10_000)]))
    result = run_import(operator, data)
    assert result.count == 10_000 and not result.published
    assert count(Instrument, Instrument.owner_id == unit.id, Instrument.status == "draft") == 10_000
    assert count(InstrumentSearchRow, InstrumentSearchRow.owner_id == unit.id) == 10_000
    one = db.session.scalar(select(Instrument).where(Instrument.serial_no == "SN009999"))
    assert (one.original_value_fen, one.fee_per_sample_fen, one.purchase_date) == (52_300_050, 8050, date(2024, 5, 31))
    assert one.modes == ["machine_time", "sample_testing"] and one.fee_notes is None
    viewer = viewer_for(operator)
    assert search(viewer, SearchParams(q="色谱")).total == 10_000
    assert search(viewer, SearchParams(q="L09999")).instrument_ids == [one.id]
    assert search(ANONYMOUS, SearchParams(q="色谱")).total == 0  # drafts stay with the unit
    [entry] = import_entries()
    details = json.loads(entry.details)
    sha = hashlib.sha256(data).hexdigest()
    assert details == {"filename": "目录.csv", "sha256": sha, "rows": 10_000, "published": False,
                       "first_instrument_id": result.first_id, "last_instrument_id": result.last_id}
    assert entry.actor_name == operator.username and entry.organization_id == unit.id
    stored = db.session.get(StoredFile, int(entry.object_id))
    assert (stored.purpose, stored.sha256, stored.data) == ("catalogue_import", sha, data)
    assert verify().ok


def test_an_xlsx_with_excel_cell_types_imports_and_publishes(app, unit, operator):
    rows = [row(i, purchase_date=datetime(2023, 12, 1), original_value_fen=650000.5, fee_per_hour_fen=300,
                category_code=105, serial_no=20240000 + i) for i in range(300)]
    rows[0]["purchase_date"] = "2024-05-31"
    result = run_import(operator, xlsx_bytes(table(rows)), "目录.xlsx", publish=True)
    assert result.count == 300 and result.published
    first = db.session.get(Instrument, result.first_id)
    assert (first.status, first.purchase_date, first.category_code) == ("published", date(2024, 5, 31), "0105")
    last = db.session.get(Instrument, result.last_id)
    assert (last.purchase_date, last.original_value_fen, last.fee_per_hour_fen) == (date(2023, 12, 1), 65_000_050,
                                                                                     30_000)
    assert last.serial_no == "20240299"
    assert search(ANONYMOUS, SearchParams(q="色谱")).total == 300


ERROR_ROWS = [row(1), row(2, name_zh=""), row(3, original_value_fen="12.345", fee_per_hour_fen="abc"), None,
              row(5, category_code="9999"), row(6, purchase_date="2024-13-01"), row(7, service_modes="机时、上门服务"),
              row(8)]
ERRORS = {(1, "备注"), (3, "name_zh"), (4, "original_value_fen"), (4, "fee_per_hour_fen"), (6, "category_code"),
          (7, "purchase_date"), (8, "service_modes")}


def error_file() -> bytes:
    cells = table(ERROR_ROWS)
    cells[0].append("备注")
    for line in cells[1:]:
        if line:
            line.append("旧设备")
    return csv_bytes(cells)


def test_a_file_with_errors_imports_nothing_and_reports_every_error(app, unit, operator):
    report = importer.check(importer.parse_file(error_file(), "errors.csv"))
    assert {(p.row, p.field or p.column) for p in report.problems} == ERRORS
    assert len(report.problems) == len(ERRORS) and report.rows == 7
    reasons = {(p.row, p.field or p.column): p.reason for p in report.problems}
    assert (reasons[(3, "name_zh")], reasons[(6, "category_code")]) == ("必填", "未知的仪器分类代码")
    assert reasons[(8, "service_modes")] == "未知的服务方式 上门服务" and all(reasons.values())
    with pytest.raises(importer.ImportRejected) as rejected:
        run_import(operator, error_file())
    assert {(p.row, p.field or p.column) for p in rejected.value.report.problems} == ERRORS
    assert count(Instrument) == 0 and count(StoredFile) == 0 and import_entries() == []


def test_a_missing_required_column_is_reported_once(app, operator):
    cells = [[c for c, f in zip(line, FIELDS, strict=True) if f.name != "original_value_fen"]
             for line in table([row(1), row(2)])]
    report = importer.check(importer.parse_file(csv_bytes(cells), "a.csv"))
    assert [(p.row, p.field) for p in report.problems] == [(1, "original_value_fen")]


def test_gb18030_csv_with_api_names_and_variant_headers(app, unit, operator):
    names = ["name_zh", "model", "original_value_fen", "category_code", "service_modes", "purchase_date"]
    headers = ["name_zh", "规格型号", "原值(元)", "仪器分类代码*", "服务方式", "购置日期"]
    cells = table([row(1, service_modes="送样检测；法定检测"), row(2, name_zh="𠀀号质谱仪")], headers, names)
    data = csv_bytes(cells, "gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = run_import(operator, data)
    names_zh = db.session.scalars(select(Instrument.name_zh).order_by(Instrument.id)).all()
    assert result.count == 2 and names_zh == ["液相色谱仪 L00001", "𠀀号质谱仪"]
    assert db.session.get(Instrument, result.first_id).modes == ["sample_testing", "statutory_testing"]


def test_refusals_unreadable_too_long_other_unit_defence_publish_and_twice(app, factory, unit, operator):
    with pytest.raises(ValidationFailed) as refused:
        importer.parse_file(b"\xd0\xcf\x11\xe0 old excel", "a.xls")
    assert "file" in refused.value.fields
    app.config["IMPORT_MAX_ROWS"] = 5
    with pytest.raises(ValidationFailed) as refused:
        importer.parse_file(csv_bytes(table([row(i) for i in range(6)])), "a.csv")
    assert refused.value.code == "too_many_rows"
    app.config["IMPORT_MAX_ROWS"] = 20000
    stranger = factory.user(factory.org("research_institute"), ("provider_operator",))
    with pytest.raises(PermissionDenied), db.transaction():
        importer.import_rows(db.session.merge(stranger), db.session.merge(unit),
                             importer.parse_file(csv_bytes(table([row(1)])), "a.csv"))
    defence = factory.org("defence_unit")
    defence_op = factory.user(defence, ("provider_operator",))
    with pytest.raises(ValidationFailed):
        run_import(defence_op, csv_bytes(table([row(1)])), publish=True)
    result = run_import(defence_op, csv_bytes(table([row(1)])))
    assert db.session.scalars(select(InstrumentSearchRow.level).where(
        InstrumentSearchRow.instrument_id == result.first_id)).all() == ["hidden"]
    run_import(operator, csv_bytes(table([row(1)])))
    with pytest.raises(Conflict):
        run_import(operator, csv_bytes(table([row(1)])))
    assert count(Instrument) == 2 and len(import_entries()) == 2


def test_cli_dry_run_and_real_run(app, factory, unit, tmp_path):
    runner = app.test_cli_runner()
    bad, good = tmp_path / "bad.csv", tmp_path / "good.xlsx"
    bad.write_bytes(error_file())
    good.write_bytes(xlsx_bytes(table([row(i) for i in range(50)])))
    out = runner.invoke(args=["catalogue", "import", str(bad), "--unit", unit.uscc, "--dry-run"])
    assert out.exit_code == 1
    lines = {tuple(line.split("\t")[:2]) for line in out.stdout.splitlines()[1:]}
    assert lines == {(str(r), next((f.header for f in FIELDS if f.name == k), k)) for r, k in ERRORS}
    out = runner.invoke(args=["catalogue", "import", str(bad), "--unit", unit.uscc])
    assert out.exit_code == 1 and "nothing imported" in out.stderr
    out = runner.invoke(args=["catalogue", "import", str(good), "--unit", unit.uscc, "--dry-run"])
    assert out.exit_code == 0 and "50 rows OK" in out.stdout
    assert count(Instrument) == 0 and count(StoredFile) == 0
    out = runner.invoke(args=["catalogue", "import", str(good), "--unit", unit.uscc.lower(), "--publish"])
    assert out.exit_code == 0, out.output
    assert count(Instrument, Instrument.owner_id == unit.id, Instrument.status == "published") == 50
    [entry] = import_entries()
    assert entry.actor_name == "cli" and entry.actor_id is None
    assert json.loads(entry.details)["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert runner.invoke(args=["catalogue", "import", str(good), "--unit", unit.uscc]).exit_code != 0
    enterprise = factory.org("enterprise")
    out = runner.invoke(args=["catalogue", "import", str(good), "--unit", enterprise.uscc])
    assert out.exit_code != 0 and count(Instrument) == 50


def upload(client, data: bytes, filename: str):
    token = csrf_from(client.get("/provider/instruments/import").get_data(as_text=True))
    return client.post("/provider/instruments/import", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_upload_report_and_confirm_in_the_browser(app, factory, client, unit, operator):
    login(client, operator.username)
    page = client.get("/provider/instruments/import")
    assert page.status_code == 200 and "<h1>导入仪器</h1>" in page.get_data(as_text=True)  # Chinese by default
    template = client.get("/provider/instruments/import/template.csv")
    assert template.data.decode("utf-8-sig").strip() == ",".join(HEADERS)
    assert template.data.startswith(b"\xef\xbb\xbf")
    refused = upload(client, error_file(), "errors.csv")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "<td>4</td><td>原值（元）</td><td>须为以元为单位的金额" in html
    assert "<td>1</td><td>备注</td><td>未知列</td>" in html and "未导入任何数据" in html
    report_table = html.split('class="import-report"')[1].split("</table>")[0]
    assert report_table.count("<tr><td>") == len(ERRORS) and count(StoredFile) == 0
    no_token = client.post("/provider/instruments/import", data={"file": (io.BytesIO(b"x"), "a.csv")},
                           content_type="multipart/form-data")
    assert no_token.status_code == 400
    checked = upload(client, csv_bytes(table([row(i) for i in range(20)])), "目录.csv")
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and count(Instrument) == 0
    file_id = db.session.scalar(select(StoredFile.id))
    assert f'value="{file_id}"' in html
    # an operator of another unit cannot import this unit's file
    other = factory.user(factory.org("key_lab"), ("provider_operator",))
    stranger = app.test_client()
    login(stranger, other.username)
    token = csrf_from(stranger.get("/provider/instruments/import").get_data(as_text=True))
    assert stranger.post("/provider/instruments/import/confirm",
                         data={"csrf_token": token, "file_id": file_id}).status_code == 404
    assert client.post("/provider/instruments/import/confirm", data={"file_id": file_id}).status_code == 400
    token = csrf_from(html)
    done = client.post("/provider/instruments/import/confirm", data={"csrf_token": token, "file_id": file_id},
                       follow_redirects=True)
    assert done.status_code == 200 and "已导入 20 台（套）仪器并保存为草稿" in done.get_data(as_text=True)
    assert count(Instrument, Instrument.owner_id == unit.id, Instrument.status == "draft") == 20
    [entry] = import_entries()
    assert json.loads(entry.details)["sha256"] == db.session.get(StoredFile, file_id).sha256
    again = client.post("/provider/instruments/import/confirm", data={"csrf_token": token, "file_id": file_id})
    assert again.status_code == 409 and count(Instrument) == 20


def test_only_instrument_operators_reach_the_page(app, factory, client):
    sme = factory.user(factory.org("enterprise"), ("sme_user",))
    login(client, sme.username)
    assert client.get("/provider/instruments/import").status_code == 403
