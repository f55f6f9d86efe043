"""Scheduled voucher work: a claim returned for more information keeps its reservation only for a while."""

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from ..core.clock import now_utc
from ..db import db
from . import workflow
from .models import ClaimStatus, VoucherClaim


def stale_returned_ids(now=None) -> list[int]:
    cutoff = (now or now_utc()) - timedelta(days=workflow.setting("VOUCHER_RETURNED_KEEP_DAYS"))
    return list(db.session.scalars(select(VoucherClaim.id).where(
        VoucherClaim.status == ClaimStatus.returned, VoucherClaim.returned_at <= cutoff).order_by(VoucherClaim.id)))


def withdraw_stale_returned() -> int:
    """Withdraw returned claims older than VOUCHER_RETURNED_KEEP_DAYS, each in its own transaction; idempotent."""
    done = 0
    for claim_id in stale_returned_ids():
        with db.transaction():
            claim = db.session.scalar(select(VoucherClaim).where(VoucherClaim.id == claim_id).with_for_update())
            # Checked again under the lock: the claimant may have resubmitted meanwhile.
            if claim is None or claim_id not in stale_returned_ids():
                continue
            workflow.withdraw(actor=None, claim=claim, automatic=True,
                              reason=_("Withdrawn automatically: returned for more than %(n)d days.",
                                       n=workflow.setting("VOUCHER_RETURNED_KEEP_DAYS")))
            done += 1
    return done
