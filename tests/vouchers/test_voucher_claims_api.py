"""The claims API up to submission: shapes as in docs/api.md, every refusal, visibility and the audit trail."""

import hashlib
import json
import re

import pytest
from sqlalchemy import select

from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.vouchers.models import VoucherClaim, VoucherClaimedRecord, VoucherClaimSignal

from .. import voucher_support as vs


@pytest.fixture
def w(app, factory, frozen_clock):
    return vs.world(factory, defence_rate_bp=7000, min_claim_fen=1_000)


def create(client, w, records, headers=None):
    return vs.api(client, "POST", "/voucher-claims", headers or w.sme.headers,
                  {"policy_id": w.policy.id, "service_record_ids": [r.id for r in records]})


def upload(client, headers, claim_id, data=b"%PDF-1.4 bank slip", name="回单.pdf"):
    return vs.api(client, "POST", f"/voucher-claims/{claim_id}/evidence", headers,
                  data={"file": (vs.Upload(data), name)})


def submit(client, headers, claim_id, body=None):
    return vs.api(client, "POST", f"/voucher-claims/{claim_id}/submit", headers,
                  body if body is not None else {"contract_nos": ["HT-2026-001"], "invoice_nos": ["FP-001"]})


def test_draft_has_exactly_the_contract_shape(client, w):
    civil = vs.record(w.nanjing, w.sme.org, charge=123_457)
    defence = vs.record(w.defence, w.sme.org, charge=33_333)
    statutory = vs.record(w.nanjing, w.sme.org, mode="statutory_testing")
    body = vs.expect(create(client, w, [civil, defence, statutory]), 201)
    required = {"id", "organization_id", "policy_id", "status", "lines", "ineligible", "trace", "subsidy_fen"}
    assert required <= set(body)
    assert "signals" not in body  # fraud signals are for the commission only
    assert (body["organization_id"], body["policy_id"], body["status"]) == (w.sme.org.id, w.policy.id, "draft")
    assert [set(line) for line in body["lines"]] == [{"service_record_id", "ledger_entry_ids", "eligible_fen",
                                                      "rate_bp", "line_subsidy"}] * 2
    assert [(ln["service_record_id"], ln["eligible_fen"], ln["rate_bp"], ln["line_subsidy"]) for ln in body["lines"]] \
        == [(civil.id, 123_457, 5000, "61728.5000"), (defence.id, 33_333, 7000, "23333.1000")]
    assert all(len(ln["ledger_entry_ids"]) == 2 and all(isinstance(i, int) for i in ln["ledger_entry_ids"])
               for ln in body["lines"])
    assert body["ineligible"] == [{"service_record_id": statutory.id, "reason": "mode_not_eligible"}]
    # 61728.5 + 23333.1 = 85061.6 → 85062 fen, under every cap.
    assert body["trace"] == {"raw_fen": 85_062, "min_claim_fen": 1_000, "submittable": True, "caps": [
        {"name": "per_claim", "limit_fen": 30_000_000, "before_fen": 85_062, "after_fen": 85_062},
        {"name": "enterprise", "limit_fen": 30_000_000, "before_fen": 85_062, "after_fen": 85_062},
        {"name": "budget", "limit_fen": 1_000_000_000, "before_fen": 85_062, "after_fen": 85_062}]}
    assert body["subsidy_fen"] == 85_062
    assert re.fullmatch(r"\d+\.\d{4}", body["lines"][0]["line_subsidy"])
    assert vs.expect(vs.api(client, "GET", f"/voucher-claims/{body['id']}", w.sme.headers), 200) == body


def test_group_cap_appears_only_when_the_policy_has_one(client, w, factory):
    grouped = w.policy = vs.make_policy(w.officer, 2026, supersedes_id=w.policy.id, group_annual_cap_fen=40_000)
    rec = vs.record(w.nanjing, w.sme.org, charge=100_000)
    body = vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers,
                            {"policy_id": grouped.id, "service_record_ids": [rec.id]}), 201)
    assert [c["name"] for c in body["trace"]["caps"]] == ["per_claim", "enterprise", "group", "budget"]
    assert body["subsidy_fen"] == 40_000
    # A sister company's reservation uses up the group's headroom.
    sister = vs.claimant(factory)
    vs.relate(sister.org, w.sme.org, "same_controller")
    vs.submitted(w, [vs.record(w.nanjing, sister.org, charge=50_000)], sister)
    again = vs.expect(vs.api(client, "PATCH", f"/voucher-claims/{body['id']}", w.sme.headers,
                             {"service_record_ids": [rec.id]}), 200)
    assert again["trace"]["caps"][2] == {"name": "group", "limit_fen": 15_000, "before_fen": 50_000,
                                         "after_fen": 15_000}


def test_submission_reserves_locks_and_audits(client, w):
    recs = [vs.record(w.nanjing, w.sme.org, charge=20_000) for _ in range(3)]
    claim = vs.expect(create(client, w, recs[:2]), 201)
    patched = vs.expect(vs.api(client, "PATCH", f"/voucher-claims/{claim['id']}", w.sme.headers,
                               {"service_record_ids": [r.id for r in recs]}), 200)
    assert (len(patched["lines"]), patched["subsidy_fen"]) == (3, 30_000)
    vs.expect(submit(client, w.sme.headers, claim["id"]), 409, "evidence_required")
    evidence = vs.expect(upload(client, w.sme.headers, claim["id"]), 201)
    assert evidence == {"id": evidence["id"], "filename": "回单.pdf",
                        "sha256": hashlib.sha256(b"%PDF-1.4 bank slip").hexdigest()}
    body = vs.expect(submit(client, w.sme.headers, claim["id"]), 200)
    assert (body["status"], body["subsidy_fen"], body["invoice_nos"]) == ("submitted", 30_000, ["FP-001"])
    assert body["evidence"] == [evidence]
    db.session.rollback()
    row = db.session.get(VoucherClaim, claim["id"])
    assert json.loads(row.submitted_trace)["subsidy_fen"] == 30_000
    assert sorted(db.session.scalars(select(VoucherClaimedRecord.service_record_id)
                                     .where(VoucherClaimedRecord.claim_id == row.id))) == [r.id for r in recs]
    actions = list(db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == "voucher_claim",
                                                              AuditEntry.object_id == str(row.id))
                                      .order_by(AuditEntry.seq)))
    assert [a.action for a in actions] == ["voucher.claim_created", "voucher.claim_changed",
                                           "voucher.evidence_added", "voucher.claim_submitted"]
    assert json.loads(actions[-1].details)["trace"]["caps"][0]["name"] == "per_claim"
    assert vs.committed_sql(org_id=w.sme.org.id) == 30_000
    # Submitted: no more changes, evidence or second submission.
    vs.expect(vs.api(client, "PATCH", f"/voucher-claims/{row.id}", w.sme.headers,
                     {"service_record_ids": [recs[0].id]}), 409, "invalid_state")
    vs.expect(upload(client, w.sme.headers, row.id), 409, "invalid_state")
    vs.expect(submit(client, w.sme.headers, row.id), 409, "invalid_state")
    # Its records are now already claimed for any other claim.
    other = vs.expect(create(client, w, recs[:1]), 201)
    assert other["ineligible"] == [{"service_record_id": recs[0].id, "reason": "already_claimed"}]


def test_below_minimum_and_zero_are_refused(client, w):
    small = vs.record(w.nanjing, w.sme.org, charge=1_998)  # 999 fen < 1,000
    claim = vs.expect(create(client, w, [small]), 201)
    assert (claim["subsidy_fen"], claim["trace"]["submittable"]) == (999, False)
    vs.expect(upload(client, w.sme.headers, claim["id"]), 201)
    vs.expect(submit(client, w.sme.headers, claim["id"]), 409, "below_min_claim")
    unpaid = vs.record(w.nanjing, w.sme.org, paid=[])
    zero = vs.expect(create(client, w, [unpaid]), 201)
    assert (zero["subsidy_fen"], zero["ineligible"][0]["reason"]) == (0, "nothing_paid_in_year")
    vs.expect(upload(client, w.sme.headers, zero["id"]), 201)
    vs.expect(submit(client, w.sme.headers, zero["id"]), 409, "below_min_claim")
    assert vs.committed_sql() == 0


def test_not_eligible_enterprise_is_403(client, w):
    rec = vs.record(w.nanjing, w.sme.org)
    claim = vs.expect(create(client, w, [rec]), 201)
    vs.expect(upload(client, w.sme.headers, claim["id"]), 201)
    with db.transaction():
        db.session.merge(w.sme.org).dishonest = True
    body = vs.expect(submit(client, w.sme.headers, claim["id"]), 403, "not_eligible")
    assert [c["name"] for c in body["criteria"] if not c["passed"]] == ["not_dishonest"]


def test_bad_requests(client, w, factory):
    theirs = vs.record(w.nanjing, factory.org("enterprise"))
    body = vs.expect(create(client, w, [theirs]), 422, "validation_failed")
    assert "service_record_ids" in body["fields"]
    vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers, {"policy_id": w.policy.id,
                                                                        "service_record_ids": []}), 422)
    vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers, {"policy_id": 99_999,
                                                                        "service_record_ids": [theirs.id]}), 422)
    vs.expect(vs.api(client, "POST", "/voucher-claims", w.sme.headers, {"policy_id": "1"}), 422)
    vs.expect(client.post("/api/v1/voucher-claims", headers=w.sme.headers, data="{nope",
                          content_type="application/json"), 400, "malformed_json")
    vs.expect(vs.api(client, "POST", "/voucher-claims", {}, {}), 401)
    vs.expect(create(client, w, [theirs], factory.bearer(w.officer)), 403, "forbidden")
    claim = vs.expect(create(client, w, [vs.record(w.nanjing, w.sme.org)]), 201)
    vs.expect(vs.api(client, "POST", f"/voucher-claims/{claim['id']}/evidence", w.sme.headers, data={}), 422)
    vs.expect(upload(client, w.sme.headers, claim["id"], data=b""), 422)
    vs.expect(submit(client, w.sme.headers, claim["id"], {"invoice_nos": "FP-1"}), 422)
    vs.expect(vs.api(client, "GET", "/voucher-claims?status=lost", w.sme.headers), 422)


def test_visibility_and_filters(client, w, factory):
    mine = vs.expect(create(client, w, [vs.record(w.nanjing, w.sme.org)]), 201)
    other = vs.claimant(factory)
    theirs = vs.submitted(w, [vs.record(w.nanjing, other.org)], other)
    with db.transaction():
        db.session.add(VoucherClaimSignal(claim_id=theirs.id, code="related_provider", detail='{"provider_ids": [7]}'))
    # Another enterprise's claim is absent for the claimant, readable to the commission.
    vs.expect(vs.api(client, "GET", f"/voucher-claims/{theirs.id}", w.sme.headers), 404)
    vs.expect(vs.api(client, "PATCH", f"/voucher-claims/{theirs.id}", w.sme.headers,
                     {"service_record_ids": [1]}), 404)
    vs.expect(upload(client, w.sme.headers, theirs.id), 404)
    vs.expect(submit(client, w.sme.headers, theirs.id), 404)
    listed = vs.expect(vs.api(client, "GET", "/voucher-claims", w.sme.headers), 200)
    assert [c["id"] for c in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert vs.expect(vs.api(client, "GET", f"/voucher-claims?organization_id={other.org.id}", w.sme.headers),
                     200)["items"] == []
    vs.expect(vs.api(client, "GET", "/voucher-claims?signal=related_provider", w.sme.headers), 403)
    auditor = factory.bearer(w.auditor)
    seen = vs.expect(vs.api(client, "GET", f"/voucher-claims/{theirs.id}", auditor), 200)
    assert seen["signals"] == [{"code": "related_provider", "detail": {"provider_ids": [7]}}]
    assert {c["id"] for c in vs.expect(vs.api(client, "GET", "/voucher-claims", auditor), 200)["items"]} == \
        {mine["id"], theirs.id}
    for query, ids in [("status=submitted", [theirs.id]), ("status=draft", [mine["id"]]), ("year=2025", []),
                       (f"organization_id={w.sme.org.id}", [mine["id"]]), ("signal=related_provider", [theirs.id]),
                       ("signal=duplicate_invoice", [])]:
        assert [c["id"] for c in vs.expect(vs.api(client, "GET", f"/voucher-claims?{query}", auditor),
                                           200)["items"]] == ids, query
    vs.expect(vs.api(client, "GET", "/voucher-claims"), 401)
    outsider = factory.user(factory.org("enterprise"), ("sme_user",))
    vs.expect(vs.api(client, "GET", f"/voucher-claims/{mine['id']}", factory.bearer(outsider)), 404)


def test_eligibility_endpoint(client, w, factory):
    body = vs.expect(vs.api(client, "GET", f"/organizations/{w.sme.org.id}/voucher-eligibility?year=2026",
                            w.sme.headers), 200)
    assert body["eligible"] is True
    assert [c["name"] for c in body["criteria"]] == ["enterprise", "verified", "claimant_region", "sme_staff",
                                                     "sme_revenue", "sme_assets", "tech_sme_no", "not_dishonest"]
    assert all(set(c) == {"name", "passed", "reason"} for c in body["criteria"])
    vs.expect(vs.api(client, "GET", f"/organizations/{w.sme.org.id}/voucher-eligibility?year=2031",
                     w.sme.headers), 404)
    commission = vs.expect(vs.api(client, "GET", f"/organizations/{w.sme.org.id}/voucher-eligibility",
                                  factory.bearer(w.auditor)), 200)
    assert commission["eligible"] is True  # the year defaults to the current one
    outsider = vs.claimant(factory)
    vs.expect(vs.api(client, "GET", f"/organizations/{w.sme.org.id}/voucher-eligibility?year=2026",
                     outsider.headers), 403)
    vs.expect(vs.api(client, "GET", "/organizations/999999/voucher-eligibility?year=2026", outsider.headers), 404)
    vs.expect(vs.api(client, "GET", f"/organizations/{w.sme.org.id}/voucher-eligibility?year=2026"), 401)
    small = vs.claimant(factory, staff_count=None)
    body = vs.expect(vs.api(client, "GET", f"/organizations/{small.org.id}/voucher-eligibility?year=2026",
                            small.headers), 200)
    assert body["eligible"] is False
    assert [c["name"] for c in body["criteria"] if not c["passed"]] == ["sme_staff"]
