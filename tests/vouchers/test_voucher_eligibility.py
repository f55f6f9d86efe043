"""Eligibility of an enterprise, its group, and the eligible lines of a claim on the real database (issue 6)."""

from datetime import date

import pytest

from instrument_share.core.errors import ValidationFailed
from instrument_share.db import db
from instrument_share.ledger.models import AdjustmentRequest
from instrument_share.vouchers import claims, eligibility, groups

from .. import voucher_support as vs


@pytest.fixture
def w(app, factory, frozen_clock):
    return vs.world(factory, defence_rate_bp=7000)


def names_failed(org, policy) -> list[str]:
    db.session.refresh(org)
    return [c.name for c in eligibility.check(org, policy).criteria if not c.passed]


def test_criteria_in_contract_order_and_all_pass(w):
    result = eligibility.check(w.sme.org, w.policy)
    assert result.eligible
    assert [c.name for c in result.criteria] == list(eligibility.CRITERIA)
    assert all(c.passed and c.reason for c in result.criteria)


@pytest.mark.parametrize(("changes", "failed"), [
    ({"sme_staff_count": 501}, ["sme_staff"]),
    ({"sme_staff_count": 500}, []),  # limits are inclusive
    ({"sme_staff_count": None}, ["sme_staff"]),  # a missing value fails
    ({"sme_annual_revenue_fen": 20_000_000_001}, ["sme_revenue"]),
    ({"sme_total_assets_fen": 20_000_000_000}, []),
    ({"sme_total_assets_fen": None}, ["sme_assets"]),
    ({"tech_sme_no": "  "}, ["tech_sme_no"]),
    ({"dishonest": True}, ["not_dishonest"]),
    ({"region_code": "310101"}, ["claimant_region"]),
    ({"status": "pending"}, ["verified"]),
    ({"kind": "university"}, ["enterprise"]),
])
def test_each_criterion_fails_alone(w, changes, failed):
    with db.transaction():
        org = db.session.merge(w.sme.org)
        for key, value in changes.items():
            setattr(org, key, value)
    assert names_failed(org, w.policy) == failed
    assert eligibility.check(org, w.policy).eligible is (not failed)


def test_group_is_transitive_both_directions_and_ignores_other_relations(w, factory):
    a, b, c, d, e = (factory.org("enterprise") for _ in range(5))
    vs.relate(a, b, "subsidiary")
    vs.relate(c, b, "shareholding")  # points the other way
    vs.relate(c, d, "same_controller")
    vs.relate(d, e, "co_building")  # not a control relation
    assert groups.group_of(a.id) == {a.id, b.id, c.id, d.id}
    assert groups.group_of(e.id) == {e.id}


def test_group_by_actual_controller_after_normalisation(w, factory):
    first = factory.org("enterprise", actual_controller="ＺＨＡＮＧ San")
    second = factory.org("enterprise", actual_controller=" zhang\u3000san ")
    third = factory.org("enterprise", actual_controller="Li Si")
    linked = factory.org("enterprise")
    vs.relate(third, linked, "subsidiary")
    vs.relate(second, third, "shareholding")
    blank1 = factory.org("enterprise", actual_controller="   ")
    blank2 = factory.org("enterprise", actual_controller="   ")
    assert groups.group_of(first.id) == {first.id, second.id, third.id, linked.id}
    assert groups.group_of(blank1.id) == {blank1.id}
    assert blank2.id not in groups.group_of(blank1.id)
    assert groups.controller_key(" Ｚhang\tSAN ") == "zhangsan"


def reasons(lines) -> dict[int, str | None]:
    return {ln.service_record_id: ln.reason for ln in lines}


def test_each_reason_and_the_first_in_order(w, factory):
    ok = vs.record(w.nanjing, w.sme.org)
    statutory = vs.record(w.nanjing, w.sme.org, mode="statutory_testing")
    shanghai = vs.record(w.shanghai, w.sme.org)
    both = vs.record(w.shanghai, w.sme.org, mode="statutory_testing")  # mode comes first
    last_year = vs.record(w.nanjing, w.sme.org, paid=[(100_000, date(2025, 12, 31))])
    refunded = vs.record(w.nanjing, w.sme.org, refunds=[(100_000, date(2027, 1, 5))])
    unpaid = vs.record(w.nanjing, w.sme.org, paid=[])
    lines = claims.eligible_lines(w.sme.org, w.policy, [r.id for r in (ok, statutory, shanghai, both, last_year,
                                                                         refunded, unpaid)])
    assert reasons(lines) == {ok.id: None, statutory.id: "mode_not_eligible", shanghai.id: "provider_region",
                              both.id: "mode_not_eligible", last_year.id: "nothing_paid_in_year",
                              refunded.id: "nothing_paid_in_year", unpaid.id: "nothing_paid_in_year"}
    assert [ln.service_record_id for ln in lines] == sorted(ln.service_record_id for ln in lines)


def test_related_provider_direct_and_through_the_group(w, factory):
    direct = vs.provider(factory)
    vs.relate(direct.org, w.sme.org, "co_building")  # any relation, either direction
    in_group = vs.provider(factory)
    parent = factory.org("enterprise")
    vs.relate(w.sme.org, parent, "subsidiary")
    vs.relate(in_group.org, parent, "shareholding")
    same_boss = vs.provider(factory)
    with db.transaction():
        db.session.merge(w.sme.org).actual_controller = "王五"
        db.session.merge(same_boss.org).actual_controller = " 王 五"
    recs = [vs.record(p, w.sme.org) for p in (direct, in_group, same_boss, w.nanjing)]
    lines = claims.eligible_lines(w.sme.org, w.policy, [r.id for r in recs])
    assert [ln.reason for ln in lines] == ["related_provider", "related_provider", "related_provider", None]


def test_amounts_entries_and_defence_rate(w):
    civil = vs.record(w.nanjing, w.sme.org, charge=100_001)
    defence = vs.record(w.defence, w.sme.org, charge=40_000, paid=[(40_000, date(2026, 3, 1))],
                        refunds=[6_667], adjustments=[("credit", 1_000)])
    early = vs.record(w.nanjing, w.sme.org, charge=50_000, paid=[(20_000, date(2025, 12, 31)), (30_000, DAY2)])
    with db.transaction():  # waiting for a second operator: counts for nothing
        db.session.add(AdjustmentRequest(service_record_id=civil.id, unit_id=w.nanjing.org.id, direction="credit",
                                         amount_fen=90_000, entry_date=DAY2, reason="x",
                                         requested_by_id=w.nanjing.unit.operator.id))
    lines = {ln.service_record_id: ln for ln in claims.eligible_lines(w.sme.org, w.policy,
                                                                      [civil.id, defence.id, early.id])}
    assert (lines[civil.id].eligible_fen, lines[civil.id].rate_bp) == (100_001, 5000)
    assert (lines[defence.id].eligible_fen, lines[defence.id].rate_bp) == (33_333, 7000)
    assert len(lines[defence.id].ledger_entry_ids) == 4  # charge, payment, refund, adjustment
    assert (lines[early.id].eligible_fen, len(lines[early.id].ledger_entry_ids)) == (30_000, 2)
    claim = vs.draft(w, [civil, defence, early])
    # 100001 × 50% = 50000.5; 33333 × 70% = 23333.1; 30000 × 50% = 15000 → 88333.6 → 88334 fen.
    assert [ln.line_subsidy_e4 for ln in claim.lines] == [500_005_000, 233_331_000, 150_000_000]
    assert (claim.raw_fen, claim.subsidy_fen) == (88_334, 88_334)


DAY2 = date(2026, 11, 30)


def test_already_claimed_only_while_the_other_claim_is_live(w):
    first = vs.record(w.nanjing, w.sme.org)
    other = vs.submitted(w, [first])
    lines = claims.eligible_lines(w.sme.org, w.policy, [first.id])
    assert reasons(lines) == {first.id: "already_claimed"}
    assert reasons(claims.eligible_lines(w.sme.org, w.policy, [first.id], exclude_claim_id=other.id)) == \
        {first.id: None}
    vs.draft(w, [first])  # a draft does not lock; the record still shows as already claimed in it
    with db.transaction():
        claim = db.session.merge(other)
        claim.status = "withdrawn"
        from instrument_share.vouchers.models import VoucherClaimedRecord

        db.session.query(VoucherClaimedRecord).filter_by(claim_id=claim.id).delete()
    assert reasons(claims.eligible_lines(w.sme.org, w.policy, [first.id])) == {first.id: None}


def test_records_that_are_not_the_claimants_are_refused(w, factory):
    theirs = vs.record(w.nanjing, factory.org("enterprise"))
    with pytest.raises(ValidationFailed) as err:
        claims.eligible_lines(w.sme.org, w.policy, [theirs.id, 999_999])
    assert "service_record_ids" in err.value.fields
    with pytest.raises(ValidationFailed):
        claims.eligible_lines(w.sme.org, w.policy, [])


def test_committed_counts_live_claims_of_the_year_only(w, factory):
    rec = vs.record(w.nanjing, w.sme.org, charge=10_000)
    claim = vs.submitted(w, [rec])
    assert claims.committed(2026) == 5_000 == claims.committed(2026, {w.sme.org.id})
    assert claims.committed(2026, exclude_claim_id=claim.id) == 0
    assert claims.committed(2027) == 0 and claims.committed(2026, {w.nanjing.org.id}) == 0
    vs.draft(w, [vs.record(w.nanjing, w.sme.org)])
    assert claims.committed(2026) == 5_000
