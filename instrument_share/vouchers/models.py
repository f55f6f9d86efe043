"""Voucher policies (versioned per year), claims with their lines, evidence, approvals, signals and record locks."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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

from ..accounts.models import Organization
from ..core.clock import now_utc
from ..db import Base, UTCDateTime
from ..files.models import StoredFile


class ClaimStatus(StrEnum):
    """A claim's state, stored as its value (the moves between them: workflow.TRANSITIONS)."""

    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    returned = "returned"
    approved = "approved"  # in the public notice until notice_until, then payable
    rejected = "rejected"
    withdrawn = "withdrawn"
    paid = "paid"


CLAIM_STATES = tuple(ClaimStatus)
# Claims in these states count against caps and the budget (the claim being computed is always excluded).
COMMITTED_STATES = (ClaimStatus.submitted, ClaimStatus.under_review, ClaimStatus.returned, ClaimStatus.approved,
                    ClaimStatus.paid)
# Granted: a later refund of their services is clawed back; the reports count them as approved or paid.
GRANTED_STATES = (ClaimStatus.approved, ClaimStatus.paid)


class VoucherPolicy(Base):
    """One version of a year's policy; a policy with claims is never edited, a change supersedes it."""

    __tablename__ = "voucher_policies"
    __table_args__ = (
        CheckConstraint("valid_to >= valid_from", name="valid_range"),
        CheckConstraint("budget_fen >= 0 AND per_claim_cap_fen >= 0 AND enterprise_annual_cap_fen >= 0 "
                        "AND (group_annual_cap_fen IS NULL OR group_annual_cap_fen >= 0) AND min_claim_fen >= 0",
                        name="money_not_negative"),
        CheckConstraint("rate_bp BETWEEN 0 AND 10000 AND defence_rate_bp BETWEEN 0 AND 10000", name="rate_range"),
        UniqueConstraint("year", "version"),
        Index("ix_voucher_policies_supersedes", "supersedes_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_policies.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int] = mapped_column(Integer)
    defence_rate_bp: Mapped[int] = mapped_column(Integer)
    per_claim_cap_fen: Mapped[int] = mapped_column(BigInteger)
    enterprise_annual_cap_fen: Mapped[int] = mapped_column(BigInteger)
    group_annual_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    min_claim_fen: Mapped[int] = mapped_column(BigInteger)
    eligible_modes: Mapped[str] = mapped_column(String(200))  # comma-separated service modes
    provider_region_prefixes: Mapped[str] = mapped_column(String(200))  # comma-separated
    claimant_region_prefixes: Mapped[str] = mapped_column(String(200))  # comma-separated
    sme_max_staff: Mapped[int] = mapped_column(Integer)
    sme_max_revenue_fen: Mapped[int] = mapped_column(BigInteger)
    sme_max_assets_fen: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class VoucherClaim(Base):
    __tablename__ = "voucher_claims"
    __table_args__ = (
        CheckConstraint("subsidy_fen >= 0 AND raw_fen >= 0", name="money_not_negative"),
        CheckConstraint("clawback_fen IS NULL OR clawback_fen >= 0", name="clawback_not_negative"),
        CheckConstraint("status IN (" + ", ".join(f"'{status}'" for status in ClaimStatus) + ")",
                        name="known_status"),
        # Committed totals per year, per enterprise and year.
        Index("ix_voucher_claims_year_status", "year", "status", "subsidy_fen"),
        Index("ix_voucher_claims_org_year", "organization_id", "year", "status", "subsidy_fen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    policy_id: Mapped[int] = mapped_column(ForeignKey("voucher_policies.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)  # the policy's year, kept for committed totals
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.draft.value)
    raw_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    trace: Mapped[str] = mapped_column(Text)  # JSON: the computation, step by step
    submitted_trace: Mapped[str | None] = mapped_column(Text)  # JSON: the trace as reserved at submission
    contract_nos: Mapped[str | None] = mapped_column(Text)  # JSON list
    invoice_nos: Mapped[str | None] = mapped_column(Text)  # JSON list
    reason: Mapped[str | None] = mapped_column(Text)  # rejection / return / withdrawal reason
    clawback_fen: Mapped[int | None] = mapped_column(BigInteger)
    clawback_trace: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notice_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organization: Mapped[Organization] = relationship()
    policy: Mapped[VoucherPolicy] = relationship()
    lines: Mapped[list["VoucherClaimLine"]] = relationship(back_populates="claim", cascade="all, delete-orphan",
                                                           order_by="VoucherClaimLine.id")


class VoucherClaimLine(Base):
    """One service record of a claim: eligible with its amount and subsidy, or ineligible with the reason."""

    __tablename__ = "voucher_claim_lines"
    __table_args__ = (UniqueConstraint("claim_id", "service_record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claims.id", ondelete="CASCADE"))
    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))  # None: eligible
    eligible_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    # Exact line subsidy in ten-thousandths of a fen (eligible_fen × rate_bp is exact at this scale).
    line_subsidy_e4: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_entry_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of revenue entry ids used

    claim: Mapped[VoucherClaim] = relationship(back_populates="lines")


class VoucherClaimedRecord(Base):
    """A service record locked to a claim from submission; the primary key forbids a second live claim."""

    __tablename__ = "voucher_claimed_records"

    service_record_id: Mapped[int] = mapped_column(ForeignKey("service_records.id"), primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claims.id"), index=True)


class VoucherEvidence(Base):
    __tablename__ = "voucher_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claims.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    file: Mapped[StoredFile] = relationship()


class VoucherApproval(Base):
    """An auditor's approval; a claim above the two-auditor threshold needs two different ones."""

    __tablename__ = "voucher_approvals"
    __table_args__ = (UniqueConstraint("claim_id", "auditor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claims.id"), index=True)
    auditor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class VoucherClaimSignal(Base):
    """A fraud signal raised on a claim, kept as rows so auditors can filter by it."""

    __tablename__ = "voucher_claim_signals"

    claim_id: Mapped[int] = mapped_column(ForeignKey("voucher_claims.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class VoucherYearTotal(Base):
    """The subsidy committed in one policy year, kept in step with the claims by vouchers/year_totals.py.

    Every draft shows the budget's remaining headroom; summing a year's claims for it would cost a scan of every
    claim of the year per request, so the sum is maintained here (row-locked updates, under the year lock when a
    reservation is made).
    """

    __tablename__ = "voucher_year_totals"
    __table_args__ = (CheckConstraint("committed_fen >= 0", name="committed_not_negative"),)

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
