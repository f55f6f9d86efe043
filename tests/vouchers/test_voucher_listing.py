"""Issue 13 (9), measure 19: a claim line whose instrument was not open to the claimant through the platform at the
service's start is ineligible with reason listing_not_open, checked before every other reason; the computation is
otherwise unchanged, and the trace on the claim page names the reason in Chinese."""

from datetime import date, timedelta

import pytest

from instrument_share.catalogue import listings
from instrument_share.catalogue.models import Clearance, Instrument
from instrument_share.db import db
from instrument_share.vouchers import claims
from instrument_share.vouchers.compute import REASONS, line_reason

from .. import voucher_support as vs
from .._pages import sign_in, text
from ..catalogue_support import civilian_unit, publish_civilian


@pytest.fixture
def w(app, factory, frozen_clock):
    return vs.world(factory)


def reasons(lines) -> dict[int, str | None]:
    return {ln.service_record_id: ln.reason for ln in lines}


def test_the_reason_order_starts_with_the_listing():
    assert REASONS == ("listing_not_open", "mode_not_eligible", "provider_region", "related_provider",
                       "nothing_paid_in_year", "already_claimed")
    every_check_fails = {"listing_open": False, "mode_eligible": False, "provider_in_region": False,
                         "provider_related": True, "eligible_fen": 0, "claimed_elsewhere": True}
    for reason, (name, passing) in zip(REASONS, [("listing_open", True), ("mode_eligible", True),
                                                 ("provider_in_region", True), ("provider_related", False),
                                                 ("eligible_fen", 1), ("claimed_elsewhere", False)], strict=True):
        assert line_reason(**every_check_fails) == reason
        every_check_fails[name] = passing
    assert line_reason(**every_check_fails) is None


def test_a_service_before_publication_or_during_a_suspension_is_not_subsidised(w, factory, frozen_clock):
    late = vs.Provider(civilian_unit(factory), None)
    late.instrument = publish_civilian(late.unit, service_modes=["machine_time", "statutory_testing"])  # today
    before = vs.record(late, w.sme.org, day=date(2026, 11, 20))
    before_and_statutory = vs.record(late, w.sme.org, day=date(2026, 11, 20), mode="statutory_testing")
    suspended = vs.provider(factory)  # listed since 2025
    during = vs.record(suspended, w.sme.org, day=date(2026, 12, 5))
    with db.transaction():
        listings.suspend(actor=db.session.merge(suspended.unit.operator), reason="维修",
                         instrument=db.session.get(Instrument, suspended.instrument.id))
    ok = vs.record(w.nanjing, w.sme.org)
    lines = claims.eligible_lines(w.sme.org, w.policy, [r.id for r in (before, before_and_statutory, during, ok)])
    assert reasons(lines) == {before.id: "listing_not_open", before_and_statutory.id: "listing_not_open",
                              during.id: "listing_not_open", ok.id: None}


def test_a_defence_line_needs_the_approval_valid_that_day_and_the_claimant_cleared(w):
    valid = vs.record(w.defence, w.sme.org, charge=40_000)  # 2026-12-01, inside the approval
    after = vs.record(w.defence, w.sme.org, charge=40_000, day=w.defence.instrument.valid_until + timedelta(days=1))
    assert reasons(claims.eligible_lines(w.sme.org, w.policy, [valid.id, after.id])) == {
        valid.id: None, after.id: "listing_not_open"}
    with db.transaction():  # the defence unit withdraws the claimant's clearance
        db.session.query(Clearance).filter_by(unit_id=w.defence.org.id, organization_id=w.sme.org.id).delete()
    assert reasons(claims.eligible_lines(w.sme.org, w.policy, [valid.id])) == {valid.id: "listing_not_open"}


def test_the_computation_is_otherwise_unchanged_and_the_trace_names_the_reason(client, factory, w):
    civil = vs.record(w.nanjing, w.sme.org, charge=100_001)
    defence = vs.record(w.defence, w.sme.org, charge=40_000, refunds=[6_667])
    late = vs.Provider(civilian_unit(factory), None)
    late.instrument = publish_civilian(late.unit, service_modes=["machine_time"])
    closed = vs.record(late, w.sme.org, charge=500_000, day=date(2026, 11, 20))
    claim = vs.draft(w, [civil, defence, closed])
    # 100001 × 50% = 50000.5; 33333 × 50% = 16666.5 → 66667 fen; the closed line counts for nothing.
    assert (claim.raw_fen, claim.subsidy_fen) == (66_667, 66_667)
    assert {ln.service_record_id: ln.reason for ln in claim.lines} == {civil.id: None, defence.id: None,
                                                                       closed.id: "listing_not_open"}
    body = vs.expect(vs.api(client, "GET", f"/voucher-claims/{claim.id}", w.sme.headers), 200)
    assert body["ineligible"] == [{"service_record_id": closed.id, "reason": "listing_not_open"}]
    sign_in(client, factory, w.sme.user)  # the platform speaks Chinese
    assert "服务开始时仪器未通过平台开放共享" in text(client.get(f"/vouchers/claims/{claim.id}"))
