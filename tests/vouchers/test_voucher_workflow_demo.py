"""The demo data set holds this year's voucher policy and claims in several states, made through the services."""

from sqlalchemy import select

from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.demo import seed
from instrument_share.vouchers.models import VoucherClaim, VoucherClaimedRecord, VoucherPolicy


def test_demo_vouchers(app, frozen_clock):
    with db.transaction():
        seed()
    db.session.rollback()
    policy = db.session.scalar(select(VoucherPolicy))
    assert policy.year == 2026 and policy.version == 1
    claims = {c.status: c for c in db.session.scalars(select(VoucherClaim))}
    assert set(claims) == {"draft", "submitted", "under_review", "returned", "approved", "rejected"}
    assert all(c.subsidy_fen > 0 for c in claims.values())
    assert claims["approved"].notice_until is not None
    locked = set(db.session.scalars(select(VoucherClaimedRecord.claim_id)))
    assert locked == {claims[s].id for s in ("submitted", "under_review", "returned", "approved")}
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "voucher_claim")))
    assert {"voucher.claim_submitted", "voucher.claim_approved", "voucher.claim_returned",
            "voucher.claim_rejected"} <= actions
