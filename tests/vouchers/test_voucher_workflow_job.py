"""The scheduled job: a claim returned for more information keeps its reservation for 30 days, then is withdrawn."""

from instrument_share.jobs import JOBS
from instrument_share.vouchers import jobs

from ..booking_support import expect
from ..voucher_workflow_support import (
    act,
    audit_of,
    claim_row,
    claimed_records,
    service,
    submitted_claim,
    voucher_world,
)


def returned(client, world):
    record = service(world)
    claim = submitted_claim(world, [record])
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    expect(act(client, world, claim.id, "return", "auditor1", {"reason": "请补充合同"}), 200)
    return claim, record


def test_returned_claims_are_withdrawn_after_the_keep_days(client, factory, frozen_clock):
    world = voucher_world(factory)
    claim, record = returned(client, world)
    frozen_clock.move(days=1)
    younger, _ = returned(client, world)
    frozen_clock.move(days=29, seconds=-1)
    assert jobs.withdraw_stale_returned() == 0
    assert claim_row(claim.id).status == "returned" and claimed_records(claim.id) == [record.id]
    frozen_clock.move(seconds=1)
    assert jobs.withdraw_stale_returned() == 1
    row = claim_row(claim.id)
    assert row.status == "withdrawn" and claimed_records(claim.id) == []
    assert claim_row(younger.id).status == "returned"
    entry = audit_of(claim.id)[-1]
    assert entry.action == "voucher.claim_withdrawn" and entry.actor_id is None and '"automatic":true' in entry.details
    assert jobs.withdraw_stale_returned() == 0  # idempotent


def test_keep_days_are_configurable(client, factory, frozen_clock, app):
    app.config["VOUCHER_RETURNED_KEEP_DAYS"] = 3
    world = voucher_world(factory)
    claim, _record = returned(client, world)
    frozen_clock.move(days=3)
    assert jobs.withdraw_stale_returned() == 1
    assert claim_row(claim.id).status == "withdrawn"


def test_the_job_is_scheduled():
    job = next(j for j in JOBS if j.work is jobs.withdraw_stale_returned)
    assert job.interval_seconds <= 3600
