"""Service records, revenue ledger entries, adjustment requests, disputes and ratings.

The ledger (``revenue_entries``) is append-only: the database refuses UPDATE and DELETE on both backends
(triggers in the migration), so a correction is always a new entry with a reason.
"""

from datetime import date, datetime
from enum import StrEnum

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, User
from ..catalogue.models import Instrument
from ..core.clock import now_utc
from ..db import Base, UTCDateTime


class EntryKind(StrEnum):
    charge = "charge"
    payment = "payment"
    refund = "refund"
    adjustment = "adjustment"


class Direction(StrEnum):
    """Of an adjustment: credit is in the user's favour, debit means the user owes more."""

    credit = "credit"
    debit = "debit"


class AdjustmentStatus(StrEnum):
    pending_approval = "pending_approval"
    approved = "approved"
    rejected = "rejected"


# An adjustment request is decided once: approved or rejected, from pending_approval only.
ADJUSTMENT_TRANSITIONS = {AdjustmentStatus.pending_approval: {AdjustmentStatus.approved, AdjustmentStatus.rejected}}

ENTRY_KINDS = tuple(EntryKind)
DIRECTIONS = tuple(Direction)


class ServiceRecord(Base):
    """One service actually given: from a completed booking or sample order, or arranged outside the platform."""

    __tablename__ = "service_records"
    __table_args__ = (
        CheckConstraint("actual_end >= actual_start", name="ends_after_start"),
        CheckConstraint("effective_minutes >= 0", name="minutes_not_negative"),
        CheckConstraint("fee_fen >= 0", name="fee_not_negative"),
        CheckConstraint("samples IS NULL OR samples >= 0", name="samples_not_negative"),
        # Statistics and reports group by unit / instrument and the local day the service started.
        Index("ix_service_records_unit_day", "unit_id", "start_local_date"),
        Index("ix_service_records_instrument_day", "instrument_id", "start_local_date"),
        Index("ix_service_records_org_day", "organization_id", "start_local_date"),
        Index("ix_service_records_day", "start_local_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), unique=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the owning unit, kept
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the user organisation
    mode: Mapped[str] = mapped_column(String(32))
    actual_start: Mapped[datetime] = mapped_column(UTCDateTime)
    actual_end: Mapped[datetime] = mapped_column(UTCDateTime)
    # Asia/Shanghai calendar day of actual_start: a service counts in the quarter of this day.
    start_local_date: Mapped[date] = mapped_column(Date)
    effective_minutes: Mapped[int] = mapped_column(Integer)
    samples: Mapped[int | None] = mapped_column(Integer)
    external: Mapped[bool] = mapped_column(Boolean)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    fee_basis: Mapped[str] = mapped_column(String(200))  # the rule and the numbers, shown to the user
    result_delivered_on: Mapped[date | None] = mapped_column(Date)
    operator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    instrument: Mapped[Instrument] = relationship()
    unit: Mapped[Organization] = relationship(foreign_keys=[unit_id])
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    operator: Mapped[User] = relationship(foreign_keys=[operator_id])


class RevenueEntry(Base):
    """One ledger line; never changed nor deleted."""

    __tablename__ = "revenue_entries"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("kind IN ('charge', 'payment', 'refund', 'adjustment')", name="known_kind"),
        CheckConstraint("(kind = 'adjustment' AND direction IN ('credit', 'debit')) "
                        "OR (kind <> 'adjustment' AND direction IS NULL)", name="direction_for_adjustments"),
        UniqueConstraint("unit_id", "invoice_no", name="uq_revenue_entries_unit_invoice"),
        Index("ix_revenue_entries_record", "service_record_id", "kind"),
        Index("ix_revenue_entries_unit_date", "unit_id", "entry_date", "kind"),
        Index("ix_revenue_entries_org_date", "organization_id", "entry_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the provider, kept
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the user organisation, kept
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_date: Mapped[date] = mapped_column(Date)  # Asia/Shanghai calendar day
    invoice_no: Mapped[str | None] = mapped_column(String(64))
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("revenue_entries.id"))
    adjustment_request_id: Mapped[int | None] = mapped_column(ForeignKey("adjustment_requests.id"), unique=True)
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    service_record: Mapped[ServiceRecord] = relationship()


class AdjustmentRequest(Base):
    """An adjustment above the unit's threshold, waiting for a second operator before it reaches the ledger."""

    __tablename__ = "adjustment_requests"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("direction IN ('credit', 'debit')", name="known_direction"),
        CheckConstraint("status IN ('pending_approval', 'approved', 'rejected')", name="known_status"),
        Index("ix_adjustment_requests_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    direction: Mapped[str] = mapped_column(String(8))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_date: Mapped[date] = mapped_column(Date)
    invoice_no: Mapped[str | None] = mapped_column(String(64))
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=AdjustmentStatus.pending_approval.value)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    service_record: Mapped[ServiceRecord] = relationship()


class ServiceDispute(Base):
    """The user organisation's objection to a service record, and the operator's answer."""

    __tablename__ = "service_disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"), index=True)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    service_record: Mapped[ServiceRecord] = relationship()


class ServiceRating(Base):
    __tablename__ = "service_ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_1_to_5"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"), unique=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), index=True)  # kept for averages
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
