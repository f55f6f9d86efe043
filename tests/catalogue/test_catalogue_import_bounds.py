"""Issue 13 hole 5: a small workbook must not hold a worker. Every row counts against IMPORT_MAX_ROWS (blank ones
too) and reading stops there; an XLSX is checked before openpyxl opens it (what it unpacks to, the ZIP directory,
parts that are archives, DTDs, values beyond the last column); CSV is bounded the same way; the page answers 422
next to the file field and the command exits with the message."""

import io
import struct
import time
import zipfile

import pytest
from sqlalchemy import select

from instrument_share.catalogue import importer
from instrument_share.catalogue.fields import FIELDS
from instrument_share.catalogue.models import ImportJob, Instrument
from instrument_share.core.errors import ValidationFailed
from instrument_share.db import db
from instrument_share.files.models import StoredFile

from ..factories import csrf_from, login
from .test_catalogue_import import HEADERS, count, csv_bytes, fresh_request_state, row, table, upload, xlsx_bytes

__all__ = ["fresh_request_state"]  # the autouse fixture of the import tests applies here as well

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="仪器" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>')


def cells_xml(values: list) -> bytes:
    out = []
    for value in values:
        text = str(value).replace("&", "&amp;").replace("<", "&lt;")
        out.append(f'<c t="inlineStr"><is><t>{text}</t></is></c>')
    return f"<row>{''.join(out)}</row>".encode()


def workbook(sheet_rows: bytes, *, prolog: bytes = b"", extra: dict | None = None) -> bytes:
    """An XLSX written part by part, so a test file can declare what no spreadsheet program would write."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", WORKBOOK)
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/worksheets/sheet1.xml", b'<?xml version="1.0" encoding="UTF-8"?>' + prolog
                      + f'<worksheet xmlns="{MAIN}"><sheetData>'.encode() + sheet_rows + b"</sheetData></worksheet>")
        for name, data in (extra or {}).items():
            book.writestr(name, data)
    return out.getvalue()


def catalogue_rows(n: int) -> bytes:
    names = [f.name for f in FIELDS]
    return cells_xml(HEADERS) + b"".join(cells_xml([row(i).get(name, "") for name in names]) for i in range(n))


def refusal(data: bytes, filename: str = "目录.xlsx") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        importer.parse_file(data, filename)
    assert "file" in refused.value.fields
    return refused.value


@pytest.fixture
def operator(factory):
    return factory.user(factory.org("university", name="南京测试大学"), ("provider_operator",))


def test_the_small_workbook_of_one_and_a_half_million_empty_rows_answers_422_at_once(app, client, operator):
    data = workbook(catalogue_rows(1) + b"<row/>" * 1_500_000)
    print(f"\nworkbook: {len(data) / 1024:.1f} KB compressed, 1,500,002 rows declared")
    login(client, operator.username)
    started = time.perf_counter()
    refused = upload(client, data, "目录.xlsx")
    elapsed = time.perf_counter() - started
    print(f"upload page answered {refused.status_code} in {elapsed:.2f} s")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert '<span class="field-error" id="file-error">行数过多</span>' in html  # next to the file field
    assert "20000" in html and "空行也计入" in html
    assert count(Instrument) == 0 and count(StoredFile) == 0 and count(ImportJob) == 0

    # A row number far past the limit is refused just as fast as the rows themselves.
    assert refusal(workbook(catalogue_rows(1) + b'<row r="1500000"/>')).code == "too_many_rows"

    # A normal workbook of the same shape still goes through: checked, then imported.
    checked = upload(client, workbook(catalogue_rows(30)), "目录.xlsx")
    assert checked.status_code == 200 and "已检查 30 行，未发现问题" in checked.get_data(as_text=True)
    file_id = db.session.scalar(select(StoredFile.id))
    done = client.post("/provider/instruments/import/confirm",
                       data={"csrf_token": csrf_from(checked.get_data(as_text=True)), "file_id": file_id})
    assert done.status_code == 302 and count(Instrument) == 30


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_blank_rows_count_against_the_limit_and_reading_stops_there(app, kind):
    app.config["IMPORT_MAX_ROWS"] = 5
    cells = table([row(i) for i in range(3)]) + [[]] * 3  # 3 rows of data, 3 blank: 6 rows below the header
    encode = csv_bytes if kind == "csv" else xlsx_bytes
    if kind == "xlsx":
        cells = [line or [None] for line in cells]
    assert refusal(encode(cells), f"a.{kind}").code == "too_many_rows"
    parsed = importer.parse_file(encode(cells[:-1]), f"a.{kind}")  # 5 rows below the header: the limit itself
    assert len(parsed.rows) == 3


def test_a_zip_bomb_is_refused_from_the_directory_before_anything_is_inflated(app, client, operator):
    app.config["IMPORT_MAX_UNZIPPED_BYTES"] = 5 * 1024 * 1024
    bomb = b"\0" * (6 * 1024 * 1024)  # 6 MB of zeros deflate to a few kilobytes
    data = workbook(catalogue_rows(2), extra={"xl/media/image1.png": bomb})
    assert len(data) < 100_000
    refused = refusal(data)
    assert refused.code == "file_too_large" and "5.0 MB" in refused.message
    login(client, operator.username)
    page = upload(client, data, "目录.xlsx")
    assert page.status_code == 422 and "解压后过大" in page.get_data(as_text=True)
    assert count(Instrument) == 0 and count(StoredFile) == 0


def _understate(data: bytes, name: str, declared: int) -> bytes:
    """Make the ZIP directory (central and local headers) claim that a part inflates to `declared` bytes."""
    raw = bytearray(data)
    encoded = name.encode()
    central = raw.index(b"PK\x01\x02")
    while True:  # find the central directory record of `name`
        length = struct.unpack_from("<H", raw, central + 28)[0]
        if bytes(raw[central + 46:central + 46 + length]) == encoded:
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", raw, central + 24, declared)
    local = struct.unpack_from("<I", raw, central + 42)[0]
    struct.pack_into("<I", raw, local + 22, declared)
    return bytes(raw)


def test_a_directory_that_understates_what_a_part_inflates_to_is_caught_while_reading(app):
    app.config["IMPORT_MAX_UNZIPPED_BYTES"] = 5 * 1024 * 1024
    honest = workbook(catalogue_rows(2), extra={"xl/media/image1.png": b"\0" * (20 * 1024 * 1024)})
    lying = _understate(honest, "xl/media/image1.png", 1000)  # the directory says 1000 bytes
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(lying)).infolist()) < 10_000
    refused = refusal(lying)
    assert refused.code == "unreadable_file" and "ZIP" in refused.fields["file"]


def _overlapping(data: bytes) -> bytes:
    """A second directory entry for the sheet's own data, under another name: one stream inflated twice."""
    book = zipfile.ZipFile(io.BytesIO(data))
    start = book.start_dir
    directory = data[start:data.index(b"PK\x05\x06")]
    sheet = directory.index(b"xl/worksheets/sheet1.xml") - 46
    length = struct.unpack_from("<HHH", directory, sheet + 28)
    record = directory[sheet:sheet + 46 + sum(length)].replace(b"sheet1.xml", b"sheet9.xml")
    end = bytearray(data[data.index(b"PK\x05\x06"):])
    entries = struct.unpack_from("<H", end, 10)[0] + 1
    struct.pack_into("<HHI", end, 8, entries, entries, len(directory) + len(record))
    return data[:start] + directory + record + bytes(end)


def _archive_inside() -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("a.txt", "x")
    return workbook(catalogue_rows(2), extra={"xl/embeddings/oleObject1.zip": inner.getvalue()})


TRICKS = {
    "overlapping entries": (lambda: _overlapping(workbook(catalogue_rows(2))), "共用数据"),
    "an archive inside": (_archive_inside, "压缩包"),
    "too many parts": (lambda: workbook(catalogue_rows(2), extra={f"xl/media/p{i}.bin": b"x" for i in range(500)}),
                       "500"),
    "a DTD": (lambda: workbook(catalogue_rows(2), prolog=b'<!DOCTYPE worksheet [<!ENTITY e "x">]>'), "文档类型声明"),
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_zip_and_xml_tricks_are_refused_before_openpyxl(app, trick):
    build, reason = TRICKS[trick]
    refused = refusal(build())
    assert refused.code == "unreadable_file" and reason in refused.fields["file"], refused.fields


def test_a_value_past_the_last_column_is_refused_and_empty_cells_there_are_ignored(app, operator):
    limit = importer.limits().columns
    assert limit == len(FIELDS) + 20
    names = [f.name for f in FIELDS]
    far = b'<c r="XFD2" t="inlineStr"><is><t>x</t></is></c>'
    first = cells_xml([row(1).get(name, "") for name in names])
    refused = refusal(workbook(cells_xml(HEADERS) + first[:-len(b"</row>")] + far + b"</row>"))
    assert refused.code == "too_many_columns" and "16384" in refused.message
    formatted = first[:-len(b"</row>")] + b'<c r="XFD2" s="1"/></row>'  # formatting only, no value
    assert len(importer.parse_file(workbook(cells_xml(HEADERS) + formatted), "a.xlsx").rows) == 1

    cells = table([row(1), row(2)])
    cells[2] = cells[2] + [""] * 100  # a CSV saved with many empty columns on the right
    assert len(importer.parse_file(csv_bytes(cells), "a.csv").rows) == 2
    cells[2][limit + 5] = "value"
    refused = refusal(csv_bytes(cells), "a.csv")
    assert refused.code == "too_many_columns" and "第 3 行" in refused.message


def test_a_csv_larger_than_an_upload_may_be_is_refused(app):
    app.config["MAX_UPLOAD_BYTES"] = 10_000
    refused = refusal(csv_bytes(table([row(i) for i in range(100)])), "a.csv")
    assert refused.code == "file_too_large"


def test_the_command_applies_the_same_bounds_and_exits_with_the_message(app, factory, tmp_path):
    unit = factory.org("university")
    runner = app.test_cli_runner()
    empty_rows = tmp_path / "empty_rows.xlsx"
    empty_rows.write_bytes(workbook(catalogue_rows(1) + b"<row/>" * 1_500_000))
    out = runner.invoke(args=["catalogue", "import", str(empty_rows), "--unit", unit.uscc])
    assert out.exit_code == 1 and "20000" in out.output and "空行也计入" in out.output, out.output
    app.config["MAX_UPLOAD_BYTES"] = 10_000
    large = tmp_path / "large.csv"
    large.write_bytes(csv_bytes(table([row(i) for i in range(100)])))
    out = runner.invoke(args=["catalogue", "import", str(large), "--unit", unit.uscc])
    assert out.exit_code == 1 and "文件大小超过" in out.output, out.output
    assert count(Instrument) == 0 and count(StoredFile) == 0
