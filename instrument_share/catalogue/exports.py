"""Search results as CSV or XLSX, cell by cell through the viewer's visibility (a hidden field is an empty cell)."""

from datetime import date, datetime

from ..core import spreadsheet
from ..core.clock import local_iso
from .fields import FIELDS
from .models import Instrument
from .visibility import Viewer, project, viewer_level

EXPORT_LIMIT = 5000
COLUMNS = [("id", "编号"), *((f.name, f.header) for f in FIELDS), ("is_defence", "军工共享"), ("status", "状态")]


def _cell(name: str, value):
    if value is None:
        return ""
    if name.endswith("_fen"):
        return f"{value // 100}.{value % 100:02d}"  # yuan, exact: money is never a float
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return local_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def table(instruments: list[Instrument], viewer: Viewer) -> list[list]:
    rows = []
    for instrument in instruments:
        data = project(instrument, viewer_level(viewer, instrument.owner_id))
        rows.append([_cell(name, data.get(name)) for name, _header in COLUMNS])
    return rows


def to_csv(instruments: list[Instrument], viewer: Viewer) -> bytes:
    return spreadsheet.csv_bytes([[header for _name, header in COLUMNS], *table(instruments, viewer)])


def to_xlsx(instruments: list[Instrument], viewer: Viewer) -> bytes:
    return spreadsheet.xlsx_bytes([("仪器目录", [[header for _name, header in COLUMNS], *table(instruments, viewer)])])
