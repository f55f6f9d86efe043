"""Read an uploaded table: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16) or XLSX (first sheet), and turn its
cells (text, numbers, Excel dates) into what values.clean expects.

Rows are numbered as the person sees them in the file (the first line or spreadsheet row is 1); blank rows are
skipped but keep their place in the numbering, and count against the row limit like any other row: reading stops
at the limit instead of running through whatever a file declares (import_bounds.py checks an XLSX first).
"""

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import PurePath

from flask_babel import gettext as _

from ..core.money import yuan_to_fen
from .fields import FIELDS, ServiceMode
from .import_bounds import Limits, Size, measure_xlsx, refuse, too_many_columns, too_many_rows

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls (and .et) format
DELIMITERS = (",", "\t", ";")
# Columns read: the national fields plus room for unknown or repeated ones, which the report then names.
MAX_COLUMNS = len(FIELDS) + 20

Row = tuple[int, list]  # (row number in the file, cells)


def is_blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) and UTF-16 with BOM are certain; otherwise a file that is not valid UTF-8 is
    read as GB18030, the superset of GBK and GB2312 that Chinese Excel and WPS write as "CSV"."""
    if data.startswith(codecs.BOM_UTF8):
        encodings = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    elif b"\x00" in data[:200]:
        encodings = ("utf-16-le" if data[1:2] == b"\x00" else "utf-16-be",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise refuse(_("The file's text encoding is not recognised; save it as CSV UTF-8 or as XLSX."),
                  _("unknown text encoding"))


def _delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _within_columns(number: int, cells: list, limits: Limits) -> list:
    """The cells up to the last column allowed; a value beyond it is refused, empty cells there are dropped."""
    extra = cells[limits.columns:]
    for offset, cell in enumerate(extra):
        if not is_blank(cell):
            raise too_many_columns(number, limits.columns + offset + 1, limits.columns)
    return list(cells[:limits.columns]) if extra else list(cells)


def _csv_rows(data: bytes, limits: Limits) -> tuple[list[Row], int]:
    text = decode_text(data)
    if "\x00" in text:
        raise refuse(_("The file is not a readable CSV table."), _("not a CSV or XLSX table"))
    rows: list[Row] = []
    number = 0
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)), 1):
            if number > limits.rows + 1:  # the header and `rows` rows; blank rows count as well
                raise too_many_rows(limits.rows)
            cells = _within_columns(number, cells, limits)
            if not all(is_blank(c) for c in cells):
                rows.append((number, cells))
    except csv.Error as exc:
        raise refuse(_("The file is not a readable CSV table."), _("not a CSV or XLSX table")) from exc
    return rows, number


def _xlsx_rows(data: bytes, limits: Limits) -> list[Row]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    measure_xlsx(data, limits)  # refuses what would make openpyxl work beyond the limits
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        raise refuse(_("The file is not a readable XLSX workbook."), _("not a CSV or XLSX table")) from exc
    rows: list[Row] = []
    try:
        if not book.worksheets:
            raise refuse(_("The workbook has no worksheet."), _("no worksheet"))
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong sheet size; read the cells that are there
        # One row past the limit is asked for, so a longer sheet shows itself without being read to its end.
        for number, cells in enumerate(sheet.iter_rows(min_row=1, max_row=limits.rows + 2, max_col=limits.columns,
                                                       values_only=True), 1):
            if number > limits.rows + 1:
                raise too_many_rows(limits.rows)
            if not all(is_blank(c) for c in cells):
                rows.append((number, list(cells)))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise refuse(_("The file is not a readable XLSX workbook."), _("not a CSV or XLSX table")) from exc
    finally:
        book.close()
    return rows


def _check_file(data: bytes, filename: str, limits: Limits) -> bool:
    """Whether the file is an XLSX; refuses what is empty, too large or an old binary workbook."""
    if not data:
        raise refuse(_("The file is empty."), _("empty file"))
    if len(data) > limits.file_bytes:
        raise refuse(_("The file is larger than %(mb).1f MB.", mb=limits.file_bytes / 1024 / 1024),
                      _("file too large"), code="file_too_large")
    if data.startswith(OLE_MAGIC) or PurePath(filename or "").suffix.lower() in (".xls", ".et"):
        raise refuse(_("Old .xls workbooks are not read; save the file as XLSX or CSV."), _("old .xls format"))
    return data.startswith(XLSX_MAGIC)


def measure(data: bytes, filename: str, limits: Limits) -> Size:
    """How much the file holds, refusing (422) what goes beyond the limits; cheap next to reading it."""
    if _check_file(data, filename, limits):
        return measure_xlsx(data, limits)
    return Size(rows=_csv_rows(data, limits)[1])


def read_rows(data: bytes, filename: str, *, limits: Limits) -> list[Row]:
    """The non-blank rows of the file, the header row first; refuses what is not a table or is too long."""
    rows = _xlsx_rows(data, limits) if _check_file(data, filename, limits) else _csv_rows(data, limits)[0]
    if not rows:
        raise refuse(_("The file is empty."), _("empty file"))
    return rows


# Cells: what a spreadsheet holds (text, numbers, Excel dates) into what values.clean expects.

def norm(text: str) -> str:
    """Header and label matching: full-width forms folded (（元） = (元)), case, spaces and '*' markers ignored."""
    return re.sub(r"[\s*]+", "", unicodedata.normalize("NFKC", str(text))).lower()


MODE_WORDS = {
    ServiceMode.machine_time: ("机时", "上机", "机时/上机", "现场上机", "机时服务", "machine time",
                               "machine time on site"),
    ServiceMode.sample_testing: ("送样检测", "样品测试", "送样检测/样品测试", "送样测试", "sample testing"),
    ServiceMode.experiment: ("实验", "验证", "实验/验证", "实验验证", "experiment/verification"),
    ServiceMode.statutory_testing: ("法定检测", "statutory testing"),
}
MODES = {norm(w): m.value for m, words in MODE_WORDS.items() for w in (m.value, *words)}
_MODE_SPLIT = re.compile(r"[、，,;；]+")
_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")


def _as_text(cell) -> str:
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else cell.isoformat(" ")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    text = str(cell)
    if "\x00" in text:
        raise ValueError(_("contains a NUL character"))
    return text


def _as_date(cell):
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = _as_text(cell).strip()
    match = _DATE_RE.fullmatch(text)
    try:
        if match:
            return date(*map(int, match.groups()))
        if len(text) == 8 and text.isdigit():  # 20240531
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        pass
    raise ValueError(_("a date like 2024-05-31 expected"))


def _as_fen(cell) -> int:
    if isinstance(cell, bool):
        raise ValueError(_("an amount in yuan expected, at most two decimals"))
    # repr gives the shortest text of a float that reads back the same: 1234.56, not 1234.5599999…
    text = re.sub(r"[\s¥￥元]", "", repr(cell) if isinstance(cell, float) else _as_text(cell))
    try:
        return yuan_to_fen(text)
    except (ValueError, ArithmeticError) as exc:
        raise ValueError(_("an amount in yuan expected, at most two decimals")) from exc


def _as_category(cell) -> str:
    code = _as_text(cell).strip()
    if isinstance(cell, int | float) and code.isdigit() and len(code) % 2:
        code = "0" + code  # a code typed as a number loses its leading zero: 101 is 0101
    return code


def _as_modes(cell) -> list[str]:
    modes = []
    for word in _MODE_SPLIT.split(_as_text(cell)):
        if word.strip():
            mode = MODES.get(norm(word))
            if mode is None:
                raise ValueError(_("unknown service mode %(m)s", m=word.strip()))
            modes.append(mode)
    return modes


CONVERT = {"text": _as_text, "longtext": _as_text, "date": _as_date, "fen": _as_fen, "category": _as_category,
           "modes": _as_modes}
