"""Produce, store and hand out quarterly operation reports.

The scheduled job makes, for the quarter just ended, whatever of the platform's and each unit's reports (CSV and
XLSX) does not exist yet, so re-running it is harmless; on demand a unit operator or the commission makes a fresh
version at any time. Every stored report writes an audit entry carrying the file's SHA-256, in the same
transaction.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..audit import chain
from ..catalogue.models import Instrument
from ..core.clock import local_today
from ..core.spreadsheet import CSV_MIMETYPE, XLSX_MIMETYPE
from ..db import db
from ..files.store import store
from .models import OperationReport
from .periods import period, previous_quarter
from .reports import ReportData, Snapshot, to_csv, to_xlsx

FORMATS = {"csv": (to_csv, CSV_MIMETYPE), "xlsx": (to_xlsx, XLSX_MIMETYPE)}
PURPOSE = "operation_report"
FEW_UNITS = 20  # up to this many units missing: one small snapshot each instead of the city-wide one


def filename(year: int, quarter: int, unit_id: int | None, fmt: str) -> str:
    who = "platform" if unit_id is None else f"unit{unit_id}"
    return f"operation-report-{year}Q{quarter}-{who}.{fmt}"


@dataclass(frozen=True)
class Rendered:
    """One report file made from a snapshot, not stored yet."""

    year: int
    quarter: int
    unit_id: int | None
    fmt: str
    content: bytes
    generated_at: datetime


def _render(data: ReportData, unit_id: int | None, formats) -> list[Rendered]:
    return [Rendered(data.period.year, data.period.quarter, unit_id, fmt, FORMATS[fmt][0](data), data.generated_at)
            for fmt in formats]


def _save(item: Rendered, actor=None) -> OperationReport:
    stored = store(item.content, filename(item.year, item.quarter, item.unit_id, item.fmt), purpose=PURPOSE,
                   content_type=FORMATS[item.fmt][1], organization_id=item.unit_id,
                   created_by_id=getattr(actor, "id", None))
    report = OperationReport(scope="platform" if item.unit_id is None else "unit", unit_id=item.unit_id,
                             year=item.year, quarter=item.quarter, format=item.fmt, file_id=stored.id,
                             sha256=stored.sha256, generated_by_id=getattr(actor, "id", None),
                             generated_at=item.generated_at)
    db.session.add(report)
    db.session.flush()
    chain.append("report.generated", actor=actor, organization_id=item.unit_id, object_type="operation_report",
                 object_id=report.id, details={"sha256": stored.sha256, "file_id": stored.id, "format": item.fmt,
                                               "scope": report.scope, "year": item.year, "quarter": item.quarter,
                                               "filename": stored.filename, "size": stored.size,
                                               "scheduled": actor is None})
    return report


def render(year: int, quarter: int, *, unit_id: int | None, formats=tuple(FORMATS)) -> list[Rendered]:
    """Aggregate and render one report (platform when unit_id is None); reads only, so it runs before the write
    transaction and a city-wide report never holds SQLite's write lock while it aggregates."""
    snapshot = Snapshot.take(period(year, quarter), unit_id)
    data = snapshot.platform() if unit_id is None else snapshot.unit(unit_id)
    return _render(data, unit_id, formats)


def store_rendered(rendered: list[Rendered], *, actor=None, only_missing: bool = False) -> list[OperationReport]:
    """Store rendered files with their audit entries, in the caller's write transaction. With only_missing, files
    another process stored meanwhile are skipped, so the scheduled job stays idempotent."""
    have = set()
    if only_missing and rendered:
        have = existing(rendered[0].year, rendered[0].quarter)
    return [_save(item, actor) for item in rendered if (item.unit_id, item.fmt) not in have]


def generate(year: int, quarter: int, *, unit_id: int | None, actor=None,
             formats=tuple(FORMATS)) -> list[OperationReport]:
    """A fresh version of one report in each format, rendered and stored in the caller's transaction (small reports
    and tests; pages and the job render first, then store)."""
    return store_rendered(render(year, quarter, unit_id=unit_id, formats=formats), actor=actor)


def existing(year: int, quarter: int) -> set[tuple[int | None, str]]:
    rows = db.session.execute(select(OperationReport.unit_id, OperationReport.format)
                              .where(OperationReport.year == year, OperationReport.quarter == quarter))
    return {(row.unit_id, row.format) for row in rows}


def _missing(have, unit_id: int | None) -> list[str]:
    return [fmt for fmt in FORMATS if (unit_id, fmt) not in have]


def _render_missing(snapshot: Snapshot, have, unit_id: int | None) -> list[Rendered]:
    missing = _missing(have, unit_id)
    if not missing:
        return []
    return _render(snapshot.platform() if unit_id is None else snapshot.unit(unit_id), unit_id, missing)


def render_missing(year: int, quarter: int) -> list[Rendered]:
    """The platform's and every unit's reports of the quarter that are not stored yet, rendered (reads only)."""
    have, chosen = existing(year, quarter), period(year, quarter)
    listed_units = set(db.session.scalars(select(Instrument.owner_id).where(Instrument.status != "draft").distinct()))
    late = [u for u in sorted(listed_units) if _missing(have, u)]
    if not _missing(have, None) and len(late) <= FEW_UNITS:
        # The quarter's reports exist: the hourly re-run costs one small query, and a unit that listed its first
        # instrument since then gets its report from its own rows, not from a new city-wide aggregation.
        return [item for u in late for item in _render_missing(Snapshot.take(chosen, u), have, u)]
    snapshot = Snapshot.take(chosen)
    return [item for unit_id in [None, *snapshot.unit_ids()] for item in _render_missing(snapshot, have, unit_id)]


def generate_missing(year: int, quarter: int, *, actor=None) -> int:
    """Render what is missing (reads), then store it in one short write transaction; returns how many it stored."""
    rendered = render_missing(year, quarter)
    if not rendered:
        db.session.rollback()  # end the read transaction
        return 0
    with db.transaction():
        return len(store_rendered(rendered, actor=actor, only_missing=True))


def generate_due() -> str:
    """The scheduled job: the previous quarter's missing reports. It manages its own transactions and is idempotent
    (whatever another process stored meanwhile is skipped), so it runs unclaimed."""
    year, quarter = previous_quarter(local_today())
    return f"{year}Q{quarter} made={generate_missing(year, quarter)}"
