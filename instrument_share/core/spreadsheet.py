"""The one writer of every CSV and XLSX file the platform hands out.

Spreadsheet programs run a cell that starts with `=`, `+`, `-` or `@` as a formula (and some strip a leading tab or
carriage return first), so a listing named `=HYPERLINK("http://evil.example","x")` would become a live link or worse
in whoever opens the export (CSV / formula injection, OWASP). Every text cell that starts with one of those
characters is written with a leading apostrophe, which spreadsheet programs show as text; in XLSX every string is
also stored with the string type, never as a formula, whatever it starts with.
"""

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Rows = Iterable[Sequence]


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, made inert; every other value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_bytes(rows: Rows) -> bytes:
    """UTF-8 with a byte order mark (Excel then reads the Chinese correctly), CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheets: Sequence[tuple[str, Rows]]) -> bytes:
    """A workbook with one sheet per (title, rows); strings are typed text, so no cell is ever a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)  # streams rows: a large report never holds every cell object at once
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value, WriteOnlyCell) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(sheet, value, cell_class):
    if not isinstance(value, str):
        return value
    cell = cell_class(sheet, value=neutralise(value))
    cell.data_type = "s"  # openpyxl would otherwise store a string starting with "=" as a formula
    return cell
