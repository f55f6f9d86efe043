"""Bulk import of a unit's catalogue from CSV or XLSX whose header row names the national catalogue fields.

parse_file reads the table, check converts and validates every row and lists every problem (a dry run writes
nothing), import_rows creates all rows or none. Services never commit: the caller's transaction does.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import String, cast, select

from ..accounts.models import Organization
from ..audit import chain as audit
from ..audit.models import AuditEntry
from ..core.clock import now_utc
from ..core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..db import MAX_ID, db
from ..files.models import StoredFile
from ..files.store import store
from . import access, listing_periods, search
from .fields import FIELDS, FIELDS_BY_NAME, Status
from .import_bounds import Limits, Size
from .import_files import CONVERT, MAX_COLUMNS, is_blank, measure, norm, read_rows
from .models import Instrument, InstrumentCategory
from .values import FieldErrors, clean

PURPOSE = "catalogue_import"
BATCH = 500
IMPORT_LOCK_BASE = 0x494D_0000_0000  # "IM" + the unit's id: one import into a unit at a time
Progress = Callable[[int], None] | None


HEADERS = {norm(key): f.name for f in FIELDS for key in (f.header, f.name)}


@dataclass(frozen=True)
class Column:
    index: int
    header: str  # as written in the file
    field: str | None  # the instrument field it feeds, None when unknown


@dataclass
class ParsedFile:
    filename: str
    data: bytes
    sha256: str
    header_row: int  # 1 unless blank lines come first
    columns: list[Column]
    rows: list[tuple[int, list]]  # (row number in the file, cells) of the data rows


@dataclass(frozen=True)
class Problem:
    row: int  # as the person sees it in the file; the header is row 1
    column: str  # the column header in the file
    field: str | None  # the instrument field, None for a column that names none
    reason: str


@dataclass
class Report:
    filename: str
    rows: int
    problems: list[Problem]
    values: list[dict] = field(default_factory=list, repr=False)  # the cleaned rows, when there is no problem

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ImportResult:
    count: int
    first_id: int
    last_id: int
    file_id: int
    sha256: str
    published: bool


class ImportRejected(ValidationFailed):
    """The file has problems: nothing was written; `report` lists every one."""

    code = "import_rejected"

    def __init__(self, report: Report):
        super().__init__(_("The file has problems; nothing was imported."),
                         fields={"file": _("%(n)d problems found", n=len(report.problems))})
        self.report = report


def limits(rows: int | None = None) -> Limits:
    """The bounds on an import file from the settings (`rows` narrows the row limit, e.g. for inline imports)."""
    config = current_app.config
    return Limits(rows=config["IMPORT_MAX_ROWS"] if rows is None else rows, columns=MAX_COLUMNS,
                  file_bytes=config["MAX_UPLOAD_BYTES"], unzipped_bytes=config["IMPORT_MAX_UNZIPPED_BYTES"])


def measure_file(data: bytes, filename: str) -> Size:
    """How much the file holds, refusing what is beyond the limits, without reading its cells."""
    return measure(data, filename, limits())


def parse_file(data: bytes, filename: str) -> ParsedFile:
    rows = read_rows(data, filename, limits=limits())
    header_row, header = rows[0]
    columns = [Column(i, str(cell).strip(), HEADERS.get(norm(cell)))
               for i, cell in enumerate(header) if not is_blank(cell)]
    return ParsedFile(filename, data, hashlib.sha256(data).hexdigest(), header_row, columns, rows[1:])


def _header_problems(parsed: ParsedFile) -> tuple[list[Problem], set[str]]:
    problems, seen, row = [], {}, parsed.header_row
    for column in parsed.columns:
        if column.field is None:
            problems.append(Problem(row, column.header, None, _("unknown column")))
        elif column.field in seen:
            problems.append(Problem(row, column.header, column.field,
                                    _("the same field as column %(h)s", h=seen[column.field])))
        else:
            seen[column.field] = column.header
    # A missing required column is named once here, not again on every row.
    missing = {f.name for f in FIELDS if f.required and f.name not in seen}
    problems += [Problem(row, f.header, f.name, _("required column missing")) for f in FIELDS if f.name in missing]
    return problems, missing


def check(parsed: ParsedFile, progress: Progress = None) -> Report:
    """Convert and validate every row; list every problem (nothing is written)."""
    problems, missing = _header_problems(parsed)
    usable = [c for c in parsed.columns if c.field is not None]
    headed = {c.index for c in parsed.columns}
    # Held so values.clean finds each category in the session's identity map instead of querying per row.
    categories = db.session.scalars(select(InstrumentCategory)).all()
    headers = {c.field: c.header for c in reversed(usable)}  # the first of repeated columns names the field
    values_list = []
    for done, (number, cells) in enumerate(parsed.rows, 1):
        raw, errors = {}, {}
        for column in usable:
            cell = cells[column.index] if column.index < len(cells) else None
            if column.field in raw or column.field in errors:
                continue  # a repeated column is a header problem
            if is_blank(cell):
                raw[column.field] = None
                continue
            try:
                raw[column.field] = CONVERT[FIELDS_BY_NAME[column.field].kind](cell)
            except ValueError as exc:
                errors[column.field] = str(exc)
        try:
            values = clean(raw, partial=False)
        except FieldErrors as exc:
            values = None
            errors = {k: v for k, v in exc.fields.items() if k not in missing} | errors
        problems += [Problem(number, headers[f.name], f.name, errors[f.name]) for f in FIELDS if f.name in errors]
        problems += [Problem(number, f"#{i + 1}", None, _("a value in a column without a header"))
                     for i, cell in enumerate(cells) if i not in headed and not is_blank(cell)]
        if values is not None and not errors:
            values_list.append(values)
        if progress and (done % BATCH == 0 or done == len(parsed.rows)):
            progress(done % BATCH or BATCH)
    if not parsed.rows:
        problems.append(Problem(parsed.header_row, "", None, _("the file has no rows below the header")))
    del categories
    return Report(parsed.filename, len(parsed.rows), problems, values_list if not problems else [])


def require_importer(actor, unit: Organization, *, publish: bool = False) -> None:
    if not access.is_operator_of(actor, unit.id):
        raise PermissionDenied(_("Only an instrument operator of a verified unit imports its own instruments."))
    if publish and unit.kind == "defence_unit":
        raise ValidationFailed(_("A defence listing is published only through confidentiality review and approval."),
                               fields={"publish": _("not for a defence unit")})


def import_rows(actor, unit: Organization, parsed: ParsedFile, *, source: StoredFile | None = None,
                publish: bool = False, progress: Progress = None) -> ImportResult:
    """Create every row as an instrument of the unit, or nothing (ImportRejected carries the report). The same
    contents are imported into a unit once (a second click on "Import", the same command run twice).

    `progress` is called with the number of rows done, twice per row: once checked, once written."""
    require_importer(actor, unit, publish=publish)
    db.lock(IMPORT_LOCK_BASE + unit.id)
    if _imported_before(unit, parsed.sha256):
        raise Conflict(_("A file with the same contents has already been imported for this unit."),
                       code="already_imported", fields={"file": _("already imported")})
    report = check(parsed, progress)
    if not report.ok:
        raise ImportRejected(report)
    if source is None:
        source = store(parsed.data, parsed.filename, purpose=PURPOSE, organization_id=unit.id,
                       created_by_id=actor.id)
    now, ids = now_utc(), []
    status = Status.published.value if publish else Status.draft.value
    for start in range(0, len(report.values), BATCH):
        batch = [Instrument(owner=unit, status=status, created_by_id=actor.id, created_at=now, updated_at=now,
                            published_at=now if publish else None, **values)
                 for values in report.values[start:start + BATCH]]
        db.session.add_all(batch)
        db.session.flush()
        search.reindex_many(batch)
        listing_periods.opened(batch, at=now)
        ids += [i.id for i in batch]
        if progress:
            progress(len(batch))
    audit.append("catalogue.imported", actor=actor, organization_id=unit.id, object_type="stored_file",
                 object_id=source.id, details={"filename": source.filename, "sha256": source.sha256,
                                               "rows": len(ids), "first_instrument_id": min(ids),
                                               "last_instrument_id": max(ids), "published": publish})
    return ImportResult(len(ids), min(ids), max(ids), source.id, source.sha256, publish)


def _imported_before(unit: Organization, sha256: str) -> bool:
    same_files = select(cast(StoredFile.id, String)).where(
        StoredFile.organization_id == unit.id, StoredFile.purpose == PURPOSE, StoredFile.sha256 == sha256)
    return db.session.scalar(select(AuditEntry.seq).where(
        AuditEntry.action == "catalogue.imported", AuditEntry.object_type == "stored_file",
        AuditEntry.object_id.in_(same_files)).limit(1)) is not None


def stored_import_file(unit: Organization, file_id: int) -> StoredFile:
    """An uploaded catalogue file of this unit, or 404 (another unit's files are not revealed)."""
    stored = db.session.get(StoredFile, file_id) if 0 < file_id <= MAX_ID else None  # the hidden field takes 18 digits
    if stored is None or stored.purpose != PURPOSE or stored.organization_id != unit.id:
        raise NotFound(_("No such import file."))
    return stored


def import_stored(actor, unit: Organization, file_id: int, *, publish: bool = False) -> ImportResult:
    """Import a file the unit uploaded (and dry-ran) earlier."""
    require_importer(actor, unit, publish=publish)
    stored = stored_import_file(unit, file_id)
    return import_rows(actor, unit, parse_file(stored.data, stored.filename), source=stored, publish=publish)
