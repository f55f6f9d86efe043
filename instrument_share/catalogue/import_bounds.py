"""Bounds on an uploaded catalogue workbook, checked before openpyxl opens it, so a small file cannot hold a worker.

An XLSX is a ZIP of XML parts. A 0.2 MB file can hold a sheet of 1.5 million empty rows, a part that inflates to
gigabytes, directory entries that understate sizes or share one compressed stream, a DTD that expands entities,
or a shared-string table of millions of entries that openpyxl turns into objects one by one (tens of seconds).
So, before openpyxl:

1. the ZIP central directory is checked: at most MAX_MEMBERS parts, unique names, no encryption, only stored or
   deflated data, no two parts sharing or overlapping data, declared sizes within `unzipped_bytes`;
2. every part is inflated once while counting the bytes really produced, so a directory that lies about sizes is
   caught whatever it says (reading stops past the declared size or the limit), and a part that is itself an
   archive is refused;
3. every XML part goes through expat without building anything: a DTD is refused, and the scan stops at the first
   sheet row past the row limit (blank rows count), the first value past the column limit, or when the parts hold
   more elements or shared strings than a sheet within the limits needs. That bounds openpyxl's work afterwards.
"""

import io
import struct
import zipfile
from dataclasses import dataclass
from itertools import pairwise
from xml.parsers import expat

from flask_babel import gettext as _

from ..core.errors import ValidationFailed

MAX_MEMBERS = 500  # an XLSX written by Excel or WPS has about ten parts; a few hundred with many sheets and images
CHUNK = 64 * 1024
# A text cell is <c><v/></c> plus <si><t/></si> in the shared strings, or <c><is><t/></is></c>; rich text adds runs.
ELEMENTS_PER_CELL = 6
OTHER_ELEMENTS = 200_000  # styles, theme, relationships, workbook, properties: a few thousand in a normal file
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ROW, CELL, SHARED_STRING = f"{MAIN_NS} row", f"{MAIN_NS} c", f"{MAIN_NS} si"
VALUE_TAGS = frozenset(f"{MAIN_NS} {tag}" for tag in ("v", "f", "is"))
SHEET_TAGS = frozenset({ROW, CELL, *VALUE_TAGS})
# Parts that grow with the table (counted against the cells and texts a sheet within the limits needs), by root.
CONTENT_ROOTS = {f"{MAIN_NS} worksheet": "sheet", f"{MAIN_NS} sst": "content", f"{MAIN_NS} calcChain": "content",
                 f"{MAIN_NS} pivotCacheRecords": "content"}


def refuse(message: str, reason: str, code: str = "unreadable_file") -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={"file": reason})


def _not_accepted(reason: str) -> ValidationFailed:
    return refuse(_("The workbook is packed in a way that is not accepted; save the table alone as a new XLSX or "
                    "as CSV."), reason)


def too_many_rows(limit: int) -> ValidationFailed:
    return refuse(_("The file has more than %(n)d rows (blank rows count too); split it into smaller files or delete "
                    "the empty rows at its end.", n=limit), _("too many rows"), code="too_many_rows")


def too_many_columns(row: int, column: int, limit: int) -> ValidationFailed:
    return refuse(_("Row %(row)d has a value in column %(col)d; a catalogue file has at most %(n)d columns.",
                    row=row, col=column, n=limit), _("too many columns"), code="too_many_columns")


@dataclass(frozen=True)
class Limits:
    rows: int  # data rows below the header; blank rows count
    columns: int
    file_bytes: int  # the file as uploaded
    unzipped_bytes: int  # an XLSX's parts inflated

    @property
    def sheet_elements(self) -> int:
        return (self.rows + 1) * (self.columns * ELEMENTS_PER_CELL + 1)

    @property
    def strings(self) -> int:
        return (self.rows + 1) * self.columns


@dataclass(frozen=True)
class Size:
    """How much a table holds: its rows (the header and blank rows included) and, for XLSX, the XML to parse."""

    rows: int
    strings: int = 0
    sheet_elements: int = 0
    other_elements: int = 0

    def fits(self, limits: Limits) -> bool:
        return (self.rows <= limits.rows + 1 and self.strings <= limits.strings
                and self.sheet_elements <= limits.sheet_elements and self.other_elements <= OTHER_ELEMENTS)


def measure_xlsx(data: bytes, limits: Limits) -> Size:
    """Check the archive and scan its parts within the limits; refuse (422) what goes beyond."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _unreadable() from exc
    with archive:
        members = archive.infolist()
        _check_directory(data, members, limits)
        scan = _Scan(limits)
        try:
            for info in members:
                _inflate(archive, info, scan)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
            # zipfile stops at the declared size and checks the CRC: a directory that lies ends up here.
            raise _not_accepted(_("the sizes in the ZIP directory do not match the data")) from exc
    return scan.size()


def _unreadable() -> ValidationFailed:
    return refuse(_("The file is not a readable XLSX workbook."), _("not a CSV or XLSX table"))


def _too_large(limits: Limits) -> ValidationFailed:
    return refuse(_("The workbook unpacks to more than %(mb).1f MB; save the table alone as a new XLSX or as CSV.",
                    mb=limits.unzipped_bytes / 1024 / 1024), _("too large when unpacked"), code="file_too_large")


def _check_directory(data: bytes, members: list[zipfile.ZipInfo], limits: Limits) -> None:
    """What the central directory says, before anything is inflated."""
    if len(members) > MAX_MEMBERS:
        raise _not_accepted(_("more than %(n)d parts", n=MAX_MEMBERS))
    if len({m.filename for m in members}) != len(members):
        raise _not_accepted(_("two parts with the same name"))
    if sum(m.file_size for m in members) > limits.unzipped_bytes:
        raise _too_large(limits)
    spans = []
    for member in members:
        if member.flag_bits & 0x1:
            raise _not_accepted(_("an encrypted part"))
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _not_accepted(_("an unsupported compression method"))
        header = data[member.header_offset:member.header_offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise _unreadable()
        name_length, extra_length = struct.unpack_from("<HH", header, 26)
        spans.append((member.header_offset, member.header_offset + 30 + name_length + extra_length
                      + member.compress_size))
    # Overlapping entries let one small compressed stream be inflated once per entry (a "quoted overlap" bomb).
    spans.sort()
    for (_start, end), (next_start, _next_end) in pairwise(spans):
        if next_start < end:
            raise _not_accepted(_("parts that share their data"))
    if spans and spans[-1][1] > len(data):
        raise _unreadable()


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, scan: "_Scan") -> None:
    produced, part = 0, None
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            if produced == 0:
                if chunk.startswith(ARCHIVE_MAGIC):
                    raise _not_accepted(_("an archive inside the workbook"))
                part = scan.part(chunk, lenient=info.filename.lower().endswith(".vml"))
            produced += len(chunk)
            scan.unzipped += len(chunk)
            if produced > info.file_size:
                raise _not_accepted(_("the sizes in the ZIP directory do not match the data"))
            if scan.unzipped > scan.limits.unzipped_bytes:
                raise _too_large(scan.limits)
            if part is not None:
                part = part.feed(chunk)
    if part is not None:
        part.feed(b"", final=True)


def _looks_like_xml(head: bytes) -> bool:
    """Whether a part is XML (which openpyxl may parse) rather than an image or other binary data."""
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00<", b"\x00\x00\x00<")):
        return True
    return head.lstrip(b" \t\r\n")[:1] == b"<"


def _column(ref: str) -> int:
    """The column number of a cell reference such as B7 or $ab$7 (openpyxl reads both)."""
    number = 0
    for char in ref.lstrip("$").upper():
        if not "A" <= char <= "Z":
            break
        number = number * 26 + ord(char) - 64
    if not number:
        raise ValueError(ref)
    return number


def _row_number(text: str) -> int:
    number = float(text)
    if not number.is_integer() or number < 1:
        raise ValueError(text)
    return int(number)


class _Stop(Exception):
    def __init__(self, refusal: ValidationFailed):
        self.refusal = refusal


class _Scan:
    """What openpyxl would parse, counted over all parts; the first bound passed stops the scan."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.unzipped = self.rows = self.strings = self.sheet_elements = self.other_elements = 0

    def size(self) -> Size:
        return Size(self.rows, self.strings, self.sheet_elements, self.other_elements)

    def part(self, head: bytes, *, lenient: bool) -> "_Part | None":
        return _Part(self, lenient) if _looks_like_xml(head) else None

    def content(self) -> None:
        """One element more of a sheet or of the shared strings: the cells and texts of a sheet within limits."""
        self.sheet_elements += 1
        if self.sheet_elements > self.limits.sheet_elements:
            raise _Stop(refuse(_("The workbook holds more cells and texts than %(n)d rows of the catalogue need; "
                                 "split it into smaller files.", n=self.limits.rows), _("too much content"),
                               code="file_too_large"))

    def other(self) -> None:
        self.other_elements += 1
        if self.other_elements > OTHER_ELEMENTS:
            raise _Stop(_not_accepted(_("more than %(n)d formatting and other elements", n=OTHER_ELEMENTS)))


class _Part:
    """One XML part run through expat: nothing is built, every start tag is counted and checked."""

    def __init__(self, scan: _Scan, lenient: bool):
        self.scan, self.lenient = scan, lenient  # lenient: legacy VML, often not well-formed and never read
        self.kind = None  # "sheet", "content" or "other", from the root element
        self.row = self.col = 0
        self.past_last_column = False
        self.parser = expat.ParserCreate(namespace_separator=" ")
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.StartElementHandler = self._start

    def feed(self, chunk: bytes, *, final: bool = False) -> "_Part | None":
        try:
            self.parser.Parse(chunk, final)
        except _Stop as stop:
            raise stop.refusal from None
        except expat.ExpatError as exc:
            if self.lenient:
                return None  # the bytes are still counted; openpyxl does not read this part
            raise _unreadable() from exc
        return self

    def _doctype(self, *_args) -> None:
        raise _Stop(_not_accepted(_("a document type declaration")))  # entity expansion; OOXML has no DTD

    def _start(self, name: str, attrs: dict) -> None:
        if self.kind is None:
            self.kind = CONTENT_ROOTS.get(name, "other")
        if self.kind == "other":
            self.scan.other()
            return
        self.scan.content()
        if self.kind == "content" and name == SHARED_STRING:
            self.scan.strings += 1
            if self.scan.strings > self.scan.limits.strings:
                raise _Stop(refuse(_("The workbook holds more texts than %(n)d rows of the catalogue need; split "
                                     "it into smaller files.", n=self.scan.limits.rows), _("too many texts"),
                                   code="file_too_large"))
        elif self.kind == "sheet" and name in SHEET_TAGS:
            try:
                self._sheet_element(name, attrs)
            except ValueError as exc:
                raise _Stop(_unreadable()) from exc

    def _sheet_element(self, name: str, attrs: dict) -> None:
        limits = self.scan.limits
        if name == ROW:
            self.row = _row_number(attrs["r"]) if "r" in attrs else self.row + 1
            self.col, self.past_last_column = 0, False
            self.scan.rows = max(self.scan.rows, self.row)
            if self.row > limits.rows + 1:  # the header and `rows` rows; blank rows count as well
                raise _Stop(too_many_rows(limits.rows))
        elif name == CELL:
            self.col = _column(attrs["r"]) if "r" in attrs else self.col + 1
            self.past_last_column = self.col > limits.columns
        elif self.past_last_column:  # a value, formula or inline text right of the last column allowed
            raise _Stop(too_many_columns(self.row, self.col, limits.columns))
