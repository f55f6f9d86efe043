"""Clawback after a refund (hand-computed amounts, caps as at submission) and every fraud signal."""

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from instrument_share.accounts.models import OrgRelation
from instrument_share.db import db
from instrument_share.ledger import entries
from instrument_share.ledger.models import ServiceRecord
from instrument_share.vouchers import fraud_signals
from instrument_share.vouchers.models import VoucherClaim

from ..booking_support import expect
from ..catalogue_support import civilian_unit, open_since, publish_civilian
from ..voucher_workflow_support import (
    act,
    approved_claim,
    audit_of,
    call,
    claim_row,
    refund,
    service,
    submitted_claim,
    voucher_world,
)


def signal_codes(claim_id: int) -> set[str]:
    db.session.rollback()
    return {s["code"] for s in fraud_signals.signals_of(claim_id)}


# ---------------------------------------------------------------- clawback

def test_clawback_recomputes_with_the_caps_as_at_submission(client, factory, frozen_clock):
    # Enterprise cap 60,000 fen. A: 1 h, 50,000 paid → 25,000.0000; B: 2 h, 100,000 paid → 50,000.0000.
    # Raw 75,000, capped to 60,000 (per-claim cap = enterprise cap = 60,000).
    world = voucher_world(factory, enterprise_annual_cap_fen=60_000)
    a, b = service(world), service(world, minutes=120)
    claim = approved_claim(client, world, [a, b])
    assert claim.subsidy_fen == 60_000
    # Refund 20,001 of B: B 79,999 × 50% = 39,999.5000; + 25,000 = 64,999.5 → 65,000 (half up) → cap 60,000.
    refund(world, b, 20_001)
    row = claim_row(claim.id)
    assert row.clawback_fen == 0
    # Another 30,000: B 49,999 → 24,999.5000; + 25,000 = 49,999.5 → 50,000; below the cap: clawback 10,000.
    refund(world, b, 30_000)
    row = claim_row(claim.id)
    assert row.clawback_fen == 10_000
    trace = json.loads(row.clawback_trace)
    assert trace["raw_exact"] == "49999.5000" and trace["raw_fen"] == 50_000 and trace["recomputed_fen"] == 50_000
    assert [(c["name"], c["limit_fen"]) for c in trace["caps"]] == [("per_claim", 60_000), ("enterprise", 60_000),
                                                                     ("budget", 1_000_000_000)]
    assert "refund_after_approval" in signal_codes(claim.id)
    assert audit_of(claim.id)[-1].action == "voucher.claim_clawback"
    body = expect(call(client, "GET", f"/voucher-claims/{claim.id}", world.h("sme")), 200)
    assert body["clawback_fen"] == 10_000 and "signals" not in body
    body = expect(call(client, "GET", f"/voucher-claims/{claim.id}", world.h("auditor1")), 200)
    assert "refund_after_approval" in {s["code"] for s in body["signals"]}


def test_clawback_of_a_paid_claim_and_not_before_approval(client, factory, frozen_clock):
    world = voucher_world(factory)
    paid_record, pending_record = service(world), service(world)
    claim = approved_claim(client, world, [paid_record])
    frozen_clock.move(days=8)
    expect(act(client, world, claim.id, "pay", "officer", {"paid_on": "2026-12-09", "payment_ref": "P-1"}), 200)
    refund(world, paid_record, 50_000, on=date(2026, 12, 9))  # everything back: clawback of the whole 25,000
    assert claim_row(claim.id).clawback_fen == 25_000
    pending = submitted_claim(world, [pending_record])
    refund(world, pending_record, 1_000, on=date(2026, 12, 9))
    assert claim_row(pending.id).clawback_fen is None
    assert "refund_after_approval" not in signal_codes(pending.id)


# ---------------------------------------------------------------- fraud signals

@pytest.fixture
def world(factory, frozen_clock):
    return voucher_world(factory)


def test_a_clean_claim_raises_nothing(world):
    claim = submitted_claim(world, [service(world)])
    assert signal_codes(claim.id) == set()


def test_duplicate_invoice_across_claims(world, factory):
    first = submitted_claim(world, [service(world)], invoice_nos=["32001234"])
    second = submitted_claim(world, [service(world)], invoice_nos=["32001234", "32009999"])
    assert signal_codes(second.id) == {"duplicate_invoice"}
    with db.transaction():
        assert fraud_signals.refresh(claim_row(first.id)) == ["duplicate_invoice"]


def test_duplicate_invoice_across_providers(world, factory):
    other_unit = civilian_unit(factory)
    other_instrument = open_since(publish_civilian(other_unit, service_modes=["machine_time"],
                                                   fee_per_hour_fen=50_000), datetime(2025, 1, 1, tzinfo=UTC))
    service(world, invoice_no="FP-0001")
    other_world = world.__class__(**(vars(world) | {"unit": other_unit, "instrument": other_instrument}))
    mine = service(other_world, invoice_no="FP-0001")  # the same number from another provider
    claim = submitted_claim(world, [mine])
    assert signal_codes(claim.id) == {"duplicate_invoice"}
    detail = next(s for s in fraud_signals.signals_of(claim.id) if s["code"] == "duplicate_invoice")["detail"]
    assert detail == {"invoice_nos": ["FP-0001"]}


def test_related_provider_found_at_review(client, world):
    claim = submitted_claim(world, [service(world)])
    with db.transaction():  # the tie becomes known after submission: the auditor's review recomputes the signals
        db.session.add(OrgRelation(organization_id=world.unit.org.id, other_id=world.sme.id, kind="co_building"))
    assert signal_codes(claim.id) == set()
    expect(act(client, world, claim.id, "review", "auditor1"), 200)
    assert signal_codes(claim.id) == {"related_provider"}


def test_payment_outside_the_policy_year(world):
    record = service(world, day=date(2025, 12, 20), paid_fen=20_000, paid_on=date(2025, 12, 28))
    with db.transaction():
        entries.append_entry(actor=db.session.merge(world.unit.operator), record=db.session.get(
            ServiceRecord, record.id), kind="payment", amount_fen=30_000, entry_date=date(2026, 1, 5))
    claim = submitted_claim(world, [record])
    assert claim.subsidy_fen == 15_000  # only the 2026 payment counts
    assert signal_codes(claim.id) == {"payment_outside_year"}


def test_zero_effective_hours(world):
    record = service(world)
    with db.transaction():
        db.session.execute(update(ServiceRecord).where(ServiceRecord.id == record.id).values(effective_minutes=0))
    claim = submitted_claim(world, [record])
    assert signal_codes(claim.id) == {"zero_effective_hours"}


def test_same_person_entered_booking_record_and_claim(world):
    record = service(world)
    with db.transaction():
        db.session.execute(update(ServiceRecord).where(ServiceRecord.id == record.id).values(
            created_by_id=world.sme_user.id))
    claim = submitted_claim(world, [record])
    assert signal_codes(claim.id) == {"same_person"}


def test_close_to_the_cap_with_many_small_claims(client, factory, frozen_clock):
    # Cap 100,000: one claim of 70,000 and three of 9,000 (each under 10% of the cap) = 97,000 ≥ 90%.
    world = voucher_world(factory, enterprise_annual_cap_fen=100_000)
    big = submitted_claim(world, [service(world, minutes=180, paid_fen=140_000)])
    assert big.subsidy_fen == 70_000
    small = [submitted_claim(world, [service(world, paid_fen=18_000)]) for _ in range(3)]
    assert [c.subsidy_fen for c in small] == [9_000] * 3
    assert "near_cap_small_claims" not in signal_codes(small[1].id)
    assert "near_cap_small_claims" in signal_codes(small[2].id)
    expect(act(client, world, big.id, "review", "auditor1"), 200)  # review refreshes the signals
    assert "near_cap_small_claims" in signal_codes(big.id)


def test_filter_by_signal(world):
    record = service(world)
    with db.transaction():
        db.session.execute(update(ServiceRecord).where(ServiceRecord.id == record.id).values(effective_minutes=0))
    flagged = submitted_claim(world, [record])
    submitted_claim(world, [service(world)])
    db.session.rollback()
    ids = db.session.scalars(select(VoucherClaim.id).where(fraud_signals.claims_with_signal("zero_effective_hours")))
    assert list(ids) == [flagged.id]
