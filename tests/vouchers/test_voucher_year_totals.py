"""The year's committed subsidy is maintained in voucher_year_totals; it must equal the sum of the claims holding a
reservation after every kind of transition, or drafts would show (and submissions reserve against) a wrong budget."""

import pytest
from sqlalchemy import func, select

from instrument_share.db import db
from instrument_share.vouchers import claims, jobs
from instrument_share.vouchers.models import COMMITTED_STATES, VoucherClaim, VoucherYearTotal

from ..booking_support import expect
from ..voucher_workflow_support import act, approved_claim, service, submitted_claim, voucher_world


@pytest.fixture
def world(factory, frozen_clock):
    return voucher_world(factory)


def totals(year: int = 2026) -> tuple[int, int]:
    """(maintained total, sum of the committed claims) as the database holds them."""
    db.session.rollback()
    kept = db.session.scalar(select(VoucherYearTotal.committed_fen).where(VoucherYearTotal.year == year)) or 0
    summed = db.session.scalar(select(func.coalesce(func.sum(VoucherClaim.subsidy_fen), 0)).where(
        VoucherClaim.year == year, VoucherClaim.status.in_(COMMITTED_STATES)))
    return kept, summed


def test_the_year_total_follows_every_transition(client, world, frozen_clock):
    records = [service(world) for _ in range(6)]  # 25,000 fen of subsidy each
    assert totals() == (0, 0)
    first = submitted_claim(world, records[:2])
    assert totals() == (50_000, 50_000)
    second = submitted_claim(world, records[2:3])
    approved_claim(client, world, records[3:4])
    assert totals() == (100_000, 100_000)
    expect(act(client, world, first.id, "review", "auditor1"), 200)
    expect(act(client, world, first.id, "reject", "auditor1", {"reason": "发票不符"}), 200)
    assert totals() == (50_000, 50_000)
    expect(act(client, world, second.id, "withdraw", "sme"), 200)
    assert totals() == (25_000, 25_000)
    returned = submitted_claim(world, records[4:6])
    expect(act(client, world, returned.id, "return", "auditor2", {"reason": "请补充合同"}), 200)
    assert totals() == (75_000, 75_000)  # a returned claim keeps its reservation
    with db.transaction():
        claim = db.session.get(VoucherClaim, returned.id)
        claims.update_lines(actor=db.session.merge(world.sme_user), claim=claim, record_ids=[records[4].id])
    assert totals() == (50_000, 50_000)
    frozen_clock.move(days=31)
    jobs.withdraw_stale_returned()
    assert totals() == (25_000, 25_000)
    with db.transaction():
        assert claims.committed(2026) == 25_000
