"""Generated quarterly operation reports, kept with their SHA-256."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..db import Base, UTCDateTime
from ..files.models import StoredFile


class OperationReport(Base):
    __tablename__ = "operation_reports"
    __table_args__ = (
        CheckConstraint("quarter BETWEEN 1 AND 4", name="quarter_1_to_4"),
        CheckConstraint("format IN ('csv', 'xlsx')", name="known_format"),
        CheckConstraint("(scope = 'platform' AND unit_id IS NULL) OR (scope = 'unit' AND unit_id IS NOT NULL)",
                        name="scope_matches_unit"),
        Index("ix_operation_reports_period", "year", "quarter", "scope", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # platform | unit
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(8))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the scheduled job
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    file: Mapped[StoredFile] = relationship()


class StatisticsSnapshot(Base):
    """City-wide figures the scheduler computed, so web processes read them instead of aggregating every service
    of the year (reporting/snapshots.py); the payload is JSON of integer figures, never names."""

    __tablename__ = "statistics_snapshots"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)
