"""Voucher claims after submission through the API: review, approval by one or two auditors, public notice, reject,
return, withdraw, pay; every refusal code; conflicts of interest; the audit entries with the trace."""

import pytest
from sqlalchemy import select

from instrument_share.db import db
from instrument_share.vouchers.models import VoucherApproval

from ..booking_support import expect
from ..voucher_workflow_support import (
    act,
    approved_claim,
    audit_of,
    call,
    claim_row,
    claimed_records,
    service,
    submitted_claim,
    voucher_world,
)


@pytest.fixture
def world(factory, frozen_clock):
    return voucher_world(factory)


def test_review_and_approve_opens_the_notice(client, world, frozen_clock):
    record = service(world)  # 1 hour at 500 yuan, paid in full: 50,000 fen eligible, 25,000 fen subsidy
    claim = submitted_claim(world, [record])
    assert claim.subsidy_fen == 25_000
    body = expect(act(client, world, claim.id, "review", "auditor1"), 200)
    assert body["status"] == "under_review"
    body = expect(act(client, world, claim.id, "approve", "auditor1"), 200)
    assert body["status"] == "approved"
    assert body["notice_until"] == "2026-12-08T10:00:00+08:00"  # approval time + 7 days, local time
    row = claim_row(claim.id)
    assert row.decided_by_id == world.auditor1.id and row.reviewer_id == world.auditor1.id
    actions = [e.action for e in audit_of(claim.id)]
    assert actions[-2:] == ["voucher.claim_reviewed", "voucher.claim_approved"]
    assert '"raw_fen":25000' in audit_of(claim.id)[-1].details  # every transition carries the trace


def test_wrong_state_is_invalid_state(client, world):
    claim = submitted_claim(world, [service(world)])
    expect(act(client, world, claim.id, "approve", "auditor1"), 409, "invalid_state")  # not taken yet
    expect(act(client, world, claim.id, "pay", "officer", {"paid_on": "2026-12-20", "payment_ref": "P1"}), 409,
           "invalid_state")
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    expect(act(client, world, claim.id, "review", "auditor2"), 409, "invalid_state")
    expect(act(client, world, claim.id, "withdraw", "sme"), 200)
    expect(act(client, world, claim.id, "return", "auditor1", {"reason": "x"}), 409, "invalid_state")
    expect(act(client, world, claim.id, "reject", "auditor1", {"reason": "x"}), 409, "invalid_state")


def test_roles_and_visibility(client, world, factory):
    claim = submitted_claim(world, [service(world)])
    expect(act(client, world, claim.id, "review", "sme"), 403, "forbidden")
    expect(act(client, world, claim.id, "review", "officer"), 403, "forbidden")
    expect(act(client, world, claim.id, "review", "operator"), 404, "not_found")  # the provider cannot see claims
    expect(call(client, "POST", f"/voucher-claims/{claim.id}/review"), 401, "not_authenticated")
    expect(act(client, world, 987_654, "review", "auditor1"), 404, "not_found")
    expect(act(client, world, claim.id, "withdraw", "auditor1"), 403, "forbidden")
    other = factory.user(factory.org("enterprise"), ("sme_user",))
    expect(call(client, "POST", f"/voucher-claims/{claim.id}/withdraw", factory.bearer(other)), 404)


@pytest.mark.parametrize("where", ["claimant", "provider"])
def test_conflict_of_interest(client, world, factory, where):
    claim = submitted_claim(world, [service(world)])
    org = world.sme if where == "claimant" else world.unit.org
    insider = factory.user(org, ("commission_auditor",))
    headers = factory.bearer(insider)
    expect(call(client, "POST", f"/voucher-claims/{claim.id}/review", headers), 403, "conflict_of_interest")
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    for action, body in (("approve", None), ("reject", {"reason": "x"}), ("return", {"reason": "x"})):
        expect(call(client, "POST", f"/voucher-claims/{claim.id}/{action}", headers, body), 403,
               "conflict_of_interest")
    assert claim_row(claim.id).status == "under_review"


def test_two_auditors_above_the_threshold(client, factory, frozen_clock):
    # 8 hours at 60,000 yuan/hour = 48,000,000 fen charged, paid 24,000,000: subsidy 12,000,000 > 10,000,000.
    world = voucher_world(factory, fee_per_hour_fen=6_000_000)
    claim = submitted_claim(world, [service(world, minutes=480, paid_fen=24_000_000)])
    assert claim.subsidy_fen == 12_000_000
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    body = expect(act(client, world, claim.id, "approve", "auditor1"), 200)
    assert body["status"] == "under_review" and len(body["approvals"]) == 1 and "notice_until" not in body
    expect(act(client, world, claim.id, "approve", "auditor1"), 409, "second_auditor_required")
    frozen_clock.move(hours=2)
    body = expect(act(client, world, claim.id, "approve", "auditor2"), 200)
    assert body["status"] == "approved" and len(body["approvals"]) == 2
    assert body["notice_until"] == "2026-12-08T12:00:00+08:00"  # from the second, deciding approval
    assert claim_row(claim.id).decided_by_id == world.auditor2.id
    assert [e.action for e in audit_of(claim.id)][-2:] == ["voucher.claim_first_approval", "voucher.claim_approved"]


def test_at_the_threshold_one_auditor_is_enough(client, factory):
    world = voucher_world(factory, fee_per_hour_fen=6_000_000)
    claim = submitted_claim(world, [service(world, minutes=480, paid_fen=20_000_000)])
    assert claim.subsidy_fen == 10_000_000  # not above the threshold
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    assert expect(act(client, world, claim.id, "approve", "auditor1"), 200)["status"] == "approved"


def test_pay_only_after_the_notice(client, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    pay = {"paid_on": "2026-12-09", "payment_ref": "财付〔2026〕88号"}
    expect(act(client, world, claim.id, "pay", "officer", pay), 409, "notice_not_ended")
    frozen_clock.move(days=7, seconds=-1)
    expect(act(client, world, claim.id, "pay", "officer", pay), 409, "notice_not_ended")
    frozen_clock.move(seconds=1)
    expect(act(client, world, claim.id, "pay", "auditor1", pay), 403, "forbidden")
    expect(act(client, world, claim.id, "pay", "officer", {"paid_on": "9.12.2026", "payment_ref": "x"}), 422)
    expect(act(client, world, claim.id, "pay", "officer", {"paid_on": "2026-12-09"}), 422)
    body = expect(act(client, world, claim.id, "pay", "officer", pay), 200)
    assert body["status"] == "paid" and body["paid_on"] == "2026-12-09" and body["payment_ref"] == pay["payment_ref"]
    expect(act(client, world, claim.id, "pay", "officer", pay), 409, "invalid_state")
    assert audit_of(claim.id)[-1].action == "voucher.claim_paid"


def test_a_notice_runs_exactly_the_days_it_shows_to_the_second(client, world, frozen_clock):
    frozen_clock.move(seconds=3, microseconds=250_000)  # approved at 10:00:03.25
    claim = approved_claim(client, world, [service(world)])
    notice = expect(call(client, "GET", "/voucher-notices"), 200)["items"][0]
    assert (notice["notice_from"], notice["notice_until"]) == ("2026-12-01T10:00:03+08:00", "2026-12-08T10:00:03+08:00")
    frozen_clock.move(days=7, microseconds=-250_001)  # 10:00:02.999999 a week later
    pay = {"paid_on": "2026-12-08", "payment_ref": "P2"}
    expect(act(client, world, claim.id, "pay", "officer", pay), 409, "notice_not_ended")
    frozen_clock.move(microseconds=1)  # 10:00:03, as the notice says
    expect(act(client, world, claim.id, "pay", "officer", pay), 200)


def test_reject_releases_the_records(client, world):
    record = service(world)
    claim = submitted_claim(world, [record])
    assert claimed_records(claim.id) == [record.id]
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    expect(act(client, world, claim.id, "reject", "auditor1", {}), 422)
    body = expect(act(client, world, claim.id, "reject", "auditor1", {"reason": "   "}), 422)
    assert "reason" in body["fields"]
    body = expect(act(client, world, claim.id, "reject", "auditor1", {"reason": "发票与合同不符"}), 200)
    assert body["status"] == "rejected" and body["reason"] == "发票与合同不符"
    assert claimed_records(claim.id) == []
    assert audit_of(claim.id)[-1].action == "voucher.claim_rejected"


def test_reject_during_the_notice_after_an_objection(client, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    frozen_clock.move(days=3)
    body = expect(act(client, world, claim.id, "reject", "auditor2", {"reason": "公示期收到实名异议，经核实属实"}), 200)
    assert body["status"] == "rejected" and claimed_records(claim.id) == []
    later = approved_claim(client, world, [service(world)])
    frozen_clock.move(days=7)
    expect(act(client, world, later.id, "reject", "auditor2", {"reason": "too late"}), 409, "invalid_state")


def test_return_keeps_the_reservation(client, world):
    record = service(world)
    claim = submitted_claim(world, [record])
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    body = expect(act(client, world, claim.id, "return", "auditor1", {"reason": "请补充付款凭证"}), 200)
    assert body["status"] == "returned" and body["reason"] == "请补充付款凭证"
    row = claim_row(claim.id)
    assert row.returned_at is not None and claimed_records(claim.id) == [record.id]
    assert audit_of(claim.id)[-1].action == "voucher.claim_returned"


def test_withdraw_before_approval_only(client, world):
    record = service(world)
    claim = submitted_claim(world, [record])
    body = expect(act(client, world, claim.id, "withdraw", "sme"), 200)
    assert body["status"] == "withdrawn" and claimed_records(claim.id) == []
    approved = approved_claim(client, world, [service(world)])
    expect(act(client, world, approved.id, "withdraw", "sme"), 409, "invalid_state")
    assert audit_of(claim.id)[-1].action == "voucher.claim_withdrawn"


def test_return_clears_a_first_approval(client, factory):
    world = voucher_world(factory, fee_per_hour_fen=6_000_000)
    claim = submitted_claim(world, [service(world, minutes=480, paid_fen=24_000_000)])
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    expect(act(client, world, claim.id, "approve", "auditor1"), 200)
    expect(act(client, world, claim.id, "return", "auditor2", {"reason": "补充材料"}), 200)
    db.session.rollback()
    assert db.session.scalars(select(VoucherApproval).where(VoucherApproval.claim_id == claim.id)).all() == []


def test_malformed_bodies(client, world):
    claim = submitted_claim(world, [service(world)])
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    response = client.post(f"/api/v1/voucher-claims/{claim.id}/reject", data="{", headers=world.h("auditor1"))
    expect(response, 400, "malformed_json")
    expect(act(client, world, claim.id, "reject", "auditor1", {"reason": "x", "extra": 1}), 422)
    expect(act(client, world, claim.id, "return", "auditor1", {"reason": 5}), 422)
