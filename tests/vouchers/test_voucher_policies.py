"""Voucher policies: defaults, refusals, versions that supersede each other and share their totals (issue 6)."""

from datetime import date

import pytest

from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.vouchers import claims, policies

from .. import voucher_support as vs

BODY = {"year": 2026, "valid_from": "2026-01-01", "valid_to": "2026-12-31", "budget_fen": 500_000_000}


@pytest.fixture
def w(app, factory, frozen_clock):
    return vs.world(factory)


def post(client, headers, body):
    return vs.api(client, "POST", "/voucher-policies", headers, body)


def test_defaults_of_a_new_policy(client, factory, frozen_clock):
    commission = factory.org("commission")
    officer = factory.user(commission, ("commission_officer",), totp=True)
    body = vs.expect(post(client, factory.bearer(officer), BODY), 201)
    assert body | {"id": 0} == {
        "id": 0, "year": 2026, "version": 1, "supersedes_id": None, "superseded": False,
        "valid_from": "2026-01-01", "valid_to": "2026-12-31", "budget_fen": 500_000_000, "rate_bp": 5000,
        "defence_rate_bp": 5000, "per_claim_cap_fen": 30_000_000, "enterprise_annual_cap_fen": 30_000_000,
        "group_annual_cap_fen": None, "min_claim_fen": 0,
        "eligible_modes": ["machine_time", "sample_testing", "experiment"],
        "provider_region_prefixes": ["3201"], "claimant_region_prefixes": ["3201"], "sme_max_staff": 500,
        "sme_max_revenue_fen": 20_000_000_000, "sme_max_assets_fen": 20_000_000_000}
    entry = db.session.query(AuditEntry).filter_by(action="voucher.policy_created").one()
    assert entry.object_id == str(body["id"])


def test_given_values_and_derived_defaults(client, w):
    body = vs.expect(post(client, w.officer_headers, BODY | {
        "year": 2027, "valid_from": "2027-01-01", "valid_to": "2027-12-31", "rate_bp": 4000,
        "enterprise_annual_cap_fen": 10_000_000, "group_annual_cap_fen": 15_000_000, "min_claim_fen": 50_000,
        "provider_region_prefixes": ["3201", "31", "32", "33", "34"], "eligible_modes": ["sample_testing"]}), 201)
    assert (body["defence_rate_bp"], body["per_claim_cap_fen"], body["group_annual_cap_fen"]) == \
        (4000, 10_000_000, 15_000_000)
    assert body["provider_region_prefixes"] == ["3201", "31", "32", "33", "34"]
    assert vs.expect(vs.api(client, "GET", f"/voucher-policies/{body['id']}"), 200) == body  # public


@pytest.mark.parametrize(("change", "field"), [
    ({"eligible_modes": ["machine_time", "statutory_testing"]}, "eligible_modes"),
    ({"eligible_modes": ["teleportation"]}, "eligible_modes"),
    ({"rate_bp": 10001}, "rate_bp"),
    ({"budget_fen": -1}, "budget_fen"),
    ({"valid_to": "2025-12-31"}, "valid_to"),
    ({"valid_from": "1 Jan"}, "valid_from"),
    ({"provider_region_prefixes": ["32a"]}, "provider_region_prefixes"),
    ({"claimant_region_prefixes": []}, "claimant_region_prefixes"),
    ({"year": 1999}, "year"),
    ({"budget_fen": "100"}, "budget_fen"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_values_are_422_naming_the_field(client, factory, frozen_clock, change, field):
    officer = factory.user(factory.org("commission"), ("commission_officer",), totp=True)
    body = vs.expect(post(client, factory.bearer(officer), BODY | change), 422, None)
    assert field in body["fields"], body


def test_missing_required_fields(client, factory, frozen_clock):
    officer = factory.user(factory.org("commission"), ("commission_officer",), totp=True)
    body = vs.expect(post(client, factory.bearer(officer), {"year": 2026}), 422)
    assert {"valid_from", "valid_to", "budget_fen"} <= set(body["fields"])


def test_only_a_commission_officer_defines_policies(client, w, factory):
    auditor_headers = factory.bearer(w.auditor)
    vs.expect(post(client, auditor_headers, BODY | {"year": 2030}), 403, "forbidden")
    vs.expect(post(client, w.sme.headers, BODY | {"year": 2030}), 403, "forbidden")
    vs.expect(post(client, {}, BODY | {"year": 2030}), 401)


def test_a_new_version_supersedes_and_shares_committed_totals(client, w):
    rec = vs.record(w.nanjing, w.sme.org, charge=100_000)
    v1_claim = vs.submitted(w, [rec])
    stale_draft = vs.draft(w, [vs.record(w.nanjing, w.sme.org, charge=10_000)])
    vs.expect(post(client, w.officer_headers, BODY), 409, "policy_exists")
    body = vs.expect(post(client, w.officer_headers, BODY | {"supersedes_id": w.policy.id, "budget_fen": 60_000}),
                     201)
    assert (body["version"], body["supersedes_id"]) == (2, w.policy.id)
    db.session.rollback()
    v2 = policies.get_policy(body["id"])
    assert policies.newest_version(2026).id == v2.id
    assert not policies.is_open(w.policy, date(2026, 12, 1)) and policies.is_open(v2, date(2026, 12, 1))
    assert vs.expect(vs.api(client, "GET", f"/voucher-policies/{w.policy.id}"), 200)["superseded"] is True
    # The v1 claim's 50,000 fen counts against v2's budget of 60,000.
    assert claims.committed(2026) == 50_000 == v1_claim.subsidy_fen
    new = vs.draft(w, [vs.record(w.nanjing, w.sme.org, charge=100_000)], policy=v2)
    assert new.subsidy_fen == 10_000
    assert [c["name"] for c in vs.expect(vs.api(client, "GET", f"/voucher-claims/{new.id}", w.sme.headers),
                                         200)["trace"]["caps"]] == ["per_claim", "enterprise", "budget"]
    # Only the newest version accepts new claims; a draft of the old one cannot be submitted.
    other = vs.record(w.nanjing, w.sme.org)
    vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers,
                     {"policy_id": w.policy.id, "service_record_ids": [other.id]}), 409, "policy_not_open")
    vs.expect(vs.api(client, "POST", f"/voucher-claims/{stale_draft.id}/evidence", w.sme.headers,
                     data={"file": (vs.Upload(), "proof.pdf")}), 201)
    vs.expect(vs.api(client, "POST", f"/voucher-claims/{stale_draft.id}/submit", w.sme.headers, {}), 409,
              "policy_superseded")


def test_superseding_rules(client, w):
    v2 = vs.expect(post(client, w.officer_headers, BODY | {"supersedes_id": w.policy.id}), 201)
    vs.expect(post(client, w.officer_headers, BODY | {"supersedes_id": w.policy.id}), 409, "invalid_state")
    body = vs.expect(post(client, w.officer_headers, BODY | {"year": 2027, "valid_from": "2027-01-01",
                                                             "valid_to": "2027-12-31", "supersedes_id": v2["id"]}),
                     422)
    assert "supersedes_id" in body["fields"]
    vs.expect(post(client, w.officer_headers, BODY | {"supersedes_id": 999_999}), 422)


def test_policy_outside_its_dates_is_not_open(client, w, frozen_clock):
    closed = vs.make_policy(w.officer, 2025)
    assert not policies.is_open(closed, date(2026, 12, 1)) and policies.is_open(closed, date(2025, 12, 31))
    rec = vs.record(w.nanjing, w.sme.org)
    vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers,
                     {"policy_id": closed.id, "service_record_ids": [rec.id]}), 409, "policy_not_open")
    claim = vs.draft(w, [rec])
    vs.expect(vs.api(client, "POST", f"/voucher-claims/{claim.id}/evidence", w.sme.headers,
                     data={"file": (vs.Upload(), "proof.pdf")}), 201)
    frozen_clock.move(days=31)  # 2027-01-01 in Nanjing: the 2026 policy has closed
    vs.expect(vs.api(client, "POST", f"/voucher-claims/{claim.id}/submit", w.sme.headers, {}), 409,
              "policy_not_open")


def test_policy_list_is_public_and_filters_by_year(client, w):
    vs.make_policy(w.officer, 2025)
    body = vs.expect(vs.api(client, "GET", "/voucher-policies"), 200)
    assert [(p["year"], p["version"]) for p in body["items"]] == [(2026, 1), (2025, 1)]
    assert body["total"] == 2
    assert [p["year"] for p in vs.expect(vs.api(client, "GET", "/voucher-policies?year=2025"), 200)["items"]] == \
        [2025]
    vs.expect(vs.api(client, "GET", "/voucher-policies/999999"), 404, "not_found")
