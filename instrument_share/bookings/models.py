"""Booking rules, blackouts, bookings, idempotency records, organisation blocks and in-app notifications."""

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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import Organization, User
from ..catalogue.models import Instrument
from ..core.clock import now_utc
from ..db import Base, UTCDateTime
from .states import HOLDING, Transition


class BookingRuleSet(Base):
    """The provider's rules for one instrument; absent means the defaults of docs/api.md."""

    __tablename__ = "booking_rules"

    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), primary_key=True)
    opening_hours: Mapped[str] = mapped_column(Text)  # JSON [{weekday, start, end}]
    min_minutes: Mapped[int] = mapped_column(Integer)
    max_minutes: Mapped[int] = mapped_column(Integer)
    granularity_minutes: Mapped[int] = mapped_column(Integer)
    min_notice_hours: Mapped[int] = mapped_column(Integer)
    max_horizon_days: Mapped[int] = mapped_column(Integer)
    buffer_minutes: Mapped[int] = mapped_column(Integer)
    needs_confirmation: Mapped[bool] = mapped_column(Boolean)
    cancel_notice_hours: Mapped[int] = mapped_column(Integer)
    quota_hours_per_org: Mapped[int | None] = mapped_column(Integer)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class Blackout(Base):
    __tablename__ = "booking_blackouts"
    __table_args__ = (CheckConstraint("end_at > start_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("hold_end IS NULL OR hold_end > hold_start", name="hold_ends_after_start"),
        CheckConstraint("quote_fen >= 0", name="quote_not_negative"),
        # Serves holds() and the SQLite overlap triggers: the range is on hold_end (> the window's start), so the
        # scan covers the holds that end after it (bounded by the booking horizon) rather than the instrument's whole
        # history; hold_start and status make it covering.
        Index("ix_bookings_instrument_hold", "instrument_id", "hold_end", "hold_start", "status"),
        Index("ix_bookings_status_start", "status", "start_at"),
        Index("ix_bookings_org", "organization_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)  # the owning unit, kept
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    mode: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The interval the booking keeps from others (end plus buffer) while it holds (HOLDING); NULL otherwise.
    hold_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    samples: Mapped[int | None] = mapped_column(Integer)
    wanted_by: Mapped[date | None] = mapped_column(Date)
    quote_fen: Mapped[int] = mapped_column(BigInteger)
    quote_basis: Mapped[str] = mapped_column(String(200))  # the fee standard and quantity the quote used
    contract_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    late_cancellation: Mapped[bool] = mapped_column(Boolean, default=False)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instrument: Mapped[Instrument] = relationship()
    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def release_hold(self) -> None:
        """Free the booking's held time for others: the overlap check and the database's guard see only holds."""
        self.hold_start = self.hold_end = None

    def move(self, transition: Transition) -> None:
        """Enter the transition's target state; a booking that stops holding frees its time.

        Callers check `transition.allowed_from(booking.status)` first and refuse with their own message; reaching
        here from another state is a programming error."""
        if not transition.allowed_from(self.status):
            raise ValueError(f"booking {self.id}: {transition.name} is not allowed from {self.status}")
        self.status = transition.target
        if self.status not in HOLDING:
            self.release_hold()


class IdempotencyRecord(Base):
    """A POST seen with an Idempotency-Key: its body's hash and, once done, the answer given."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class OrganizationBlock(Base):
    """An organisation barred from booking one unit's instruments after repeated violations."""

    __tablename__ = "organization_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    violations: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class ContractTemplate(Base):
    """The unit's service contract terms (国科发基〔2017〕289号 art. 13), copied into each contract."""

    __tablename__ = "contract_templates"

    unit_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    service_terms: Mapped[str] = mapped_column(Text)
    ip_terms: Mapped[str] = mapped_column(Text)
    confidentiality_terms: Mapped[str] = mapped_column(Text)
    damages_terms: Mapped[str] = mapped_column(Text)
    dispute_terms: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class ServiceContract(Base):
    __tablename__ = "service_contracts"

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    contract_no: Mapped[str | None] = mapped_column(String(40), unique=True)  # numbered at confirmation
    terms: Mapped[str] = mapped_column(Text)  # JSON snapshot of the terms the user accepted when requesting
    provider_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    booking: Mapped[Booking] = relationship()


class CalendarToken(Base):
    """The secret in a person's private calendar feed address; only its hash is kept."""

    __tablename__ = "calendar_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
