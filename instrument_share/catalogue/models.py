"""Instruments, their categories, defence revisions, clearances and the visibility-aware search rows."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization
from ..core.clock import now_utc
from ..db import Base, UTCDateTime
from ..files.models import StoredFile


class InstrumentCategory(Base):
    """The national large-instrument classification (class and sub-class), editable by the system administrator."""

    __tablename__ = "instrument_categories"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("instrument_categories.code"))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Instrument(Base):
    __tablename__ = "instruments"
    __table_args__ = (
        CheckConstraint("original_value_fen >= 0", name="value_not_negative"),
        CheckConstraint("fee_per_hour_fen IS NULL OR fee_per_hour_fen >= 0", name="hour_fee_not_negative"),
        CheckConstraint("fee_per_sample_fen IS NULL OR fee_per_sample_fen >= 0", name="sample_fee_not_negative"),
        Index("ix_instruments_owner_status", "owner_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(60))
    serial_no: Mapped[str | None] = mapped_column(String(100))
    purchase_date: Mapped[date | None] = mapped_column(Date)
    original_value_fen: Mapped[int] = mapped_column(BigInteger)
    category_code: Mapped[str] = mapped_column(ForeignKey("instrument_categories.code"))
    location: Mapped[str | None] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(60))
    technical_indicators: Mapped[str | None] = mapped_column(Text)
    main_functions: Mapped[str | None] = mapped_column(Text)
    service_content: Mapped[str | None] = mapped_column(Text)
    service_modes: Mapped[str] = mapped_column(String(100), default="")  # comma-separated ServiceMode values
    fee_per_hour_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_per_sample_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_notes: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Defence listings: the last review and approval (JSON text of {field: visibility}).
    field_visibility: Mapped[str | None] = mapped_column(Text)
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_passed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approval_no: Mapped[str | None] = mapped_column(String(100))
    approved_on: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    expiry_warned_on: Mapped[date | None] = mapped_column(Date)

    owner: Mapped[Organization] = relationship()
    category: Mapped[InstrumentCategory] = relationship()
    revisions: Mapped[list["InstrumentRevision"]] = relationship(back_populates="instrument",
                                                                 order_by="InstrumentRevision.id")

    @property
    def is_defence(self) -> bool:
        return self.owner.kind == "defence_unit"

    @property
    def modes(self) -> list[str]:
        return [m for m in (self.service_modes or "").split(",") if m]

    @property
    def pending_revision(self) -> "InstrumentRevision | None":
        return next((r for r in self.revisions if r.status in ("draft", "in_review")), None)


class InstrumentRevision(Base):
    """Changes to a published defence listing, reviewed and approved before anyone else sees them."""

    __tablename__ = "instrument_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), index=True)
    # draft → in_review (→ review passed, still in_review) → applied; a failed review returns it to draft.
    status: Mapped[str] = mapped_column(String(16), default="draft")
    changes: Mapped[str] = mapped_column(Text)  # JSON {field: new value}
    field_visibility: Mapped[str | None] = mapped_column(Text)
    drafted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    review_comment: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_passed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instrument: Mapped[Instrument] = relationship(back_populates="revisions")


class ListingPeriod(Base):
    """An interval during which a listing was published (open to other organisations), with the approval that was
    valid for a defence listing then. Written only by catalogue/listing_periods.py, in the transaction that changes
    the listing's status or approval; measure 19 asks what was open when a service started."""

    __tablename__ = "listing_periods"
    __table_args__ = (
        CheckConstraint("closed_at IS NULL OR closed_at >= opened_at", name="closes_after_opening"),
        Index("ix_listing_periods_instrument_opened", "instrument_id", "opened_at"),
        # At most one open period per listing.
        Index("uq_listing_periods_open", "instrument_id", unique=True, sqlite_where=text("closed_at IS NULL"),
              postgresql_where=text("closed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: still open
    # Defence listings: the approval's validity (local calendar days, inclusive) during this period.
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    # "recorded" when written as the listing changed; "backfilled" when reconstructed by the migration.
    source: Mapped[str] = mapped_column(String(16), default="recorded")


class Clearance(Base):
    """An organisation a defence unit has cleared (confidentiality agreement accepted)."""

    __tablename__ = "clearances"
    __table_args__ = (UniqueConstraint("unit_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agreement_version: Mapped[str] = mapped_column(String(60))
    agreed_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])


class InstrumentSearchRow(Base):
    """What one visibility level of one listing shows, projected for search, filters, sorting and facets.

    A row holds only the fields visible at its level, so a query can never match, filter or sort on a field the
    viewer may not see: the viewer's query reads only the rows of levels it is entitled to.
    """

    __tablename__ = "instrument_search"
    __table_args__ = (UniqueConstraint("instrument_id", "level"),
                      Index("ix_instrument_search_level_status", "level", "status"),
                      # Looks rows up by sort key (the FTS5 rowid; unique, as it holds instrument id and level) and
                      # covers what a page of index matches reads, range filters and sort columns, without the
                      # wide text of the row.
                      Index("ix_instrument_search_sorting", "sort_key", "published_at", "instrument_id",
                            "fee_per_hour_fen", "fee_per_sample_fen", "original_value_fen", "name_sort"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(16))
    is_defence: Mapped[bool] = mapped_column(Boolean)
    owner_kind: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str | None] = mapped_column(String(6))
    name_sort: Mapped[str | None] = mapped_column(String(200))
    category_code: Mapped[str | None] = mapped_column(String(8))
    district: Mapped[str | None] = mapped_column(String(60))
    service_modes: Mapped[str | None] = mapped_column(String(100))
    fee_per_hour_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_per_sample_fen: Mapped[int | None] = mapped_column(BigInteger)
    original_value_fen: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Index keys (catalogue/search_keys.py): newest-first order, access and filter tags, the visible name's grams.
    sort_key: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[str] = mapped_column(Text, default="")
    name_terms: Mapped[str] = mapped_column(Text, default="")
    # The index tokens of the visible searched text (catalogue/grams.py). The text itself is not kept here: a
    # count visits every matching row's page, so each byte of a row costs every broad search (snippets are cut from
    # the listing as the viewer sees it; catalogue/snippets.py).
    uni: Mapped[str] = mapped_column(Text, default="")
    bi: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[str] = mapped_column(Text, default="")


class Resource(Base):
    """Another S&T resource of measure 18: an innovation platform (key lab, engineering centre) or service agency."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    level: Mapped[str | None] = mapped_column(String(32))  # national | provincial | municipal
    fields_of_work: Mapped[str | None] = mapped_column(Text)
    services: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300))
    is_published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    organization: Mapped[Organization] = relationship()
    instruments: Mapped[list[Instrument]] = relationship(secondary="resource_instruments", order_by="Instrument.id")


class ResourceInstrument(Base):
    __tablename__ = "resource_instruments"

    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)


class ImportJob(Base):
    """A catalogue import, or its dry run, too large for a web request: the scheduler runs it (import_jobs.py).

    queued → running (claimed under a lease; a runner that died is reclaimed when the lease has run out) → done or
    failed. The import itself is one transaction; progress is written beside it in short ones.
    """

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="known_status"),
        Index("ix_import_jobs_status_lease", "status", "lease_expires_at"),
        Index("ix_import_jobs_organization", "organization_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    publish: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    rows_total: Mapped[int | None] = mapped_column(Integer)  # data rows, known once the file has been read
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[str | None] = mapped_column(Text)  # JSON: [[row, column, field, reason], ...]
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    instruments_created: Mapped[int | None] = mapped_column(Integer)
    first_instrument_id: Mapped[int | None] = mapped_column(Integer)
    last_instrument_id: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    file: Mapped[StoredFile] = relationship()  # its bytes stay deferred until read
