"""The public notice (公示) of approved claims: enterprise name, amount and notice period, nothing else."""

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..core.clock import local_iso, now_utc
from .models import ClaimStatus, VoucherClaim


def in_notice_query(year: int | None = None):
    stmt = select(VoucherClaim).options(joinedload(VoucherClaim.organization)).where(
        VoucherClaim.status == ClaimStatus.approved, VoucherClaim.notice_until > now_utc()).order_by(
        VoucherClaim.notice_until, VoucherClaim.id)
    if year is not None:
        stmt = stmt.where(VoucherClaim.year == year)
    return stmt


def notice_json(claim: VoucherClaim) -> dict:
    return {"id": claim.id, "year": claim.year, "organization_name": claim.organization.name,
            "subsidy_fen": claim.subsidy_fen, "notice_from": local_iso(claim.decided_at),
            "notice_until": local_iso(claim.notice_until)}
