"""Voucher pages with the test client: the enterprise's eligibility, new claim with its computed trace, lines,
evidence, submit and withdraw; the auditors' queue and decisions with each refusal shown; the officer's policies,
payouts and exports; the public notice without login."""

import io
import re

import pytest
from sqlalchemy import select

from instrument_share.accounts.models import OrgRelation
from instrument_share.db import db
from instrument_share.vouchers.models import VoucherClaim, VoucherPolicy

from .._pages import field_errors, sign_in, submit, text
from ..factories import csrf_from, english
from ..voucher_workflow_support import (
    act,
    approved_claim,
    claim_row,
    claimed_records,
    draft_claim,
    service,
    submitted_claim,
    voucher_world,
)


@pytest.fixture
def world(factory, frozen_clock):
    return voucher_world(factory)


def signed(client, factory, user):
    sign_in(client, factory, user)
    english(client)
    return client


def claim_page(claim_id: int) -> str:
    return f"/vouchers/claims/{claim_id}"


def test_eligibility_lists_each_criterion_with_its_reason(client, factory, world):
    signed(client, factory, world.sme_user)
    html = text(client.get("/vouchers/eligibility?year=2026"))
    assert "Eligible: the enterprise meets every criterion." in html
    for name in ("enterprise", "verified", "claimant_region", "sme_staff", "sme_revenue", "sme_assets",
                 "tech_sme_no", "not_dishonest"):
        assert f'data-criterion="{name}"' in html
    assert "There is no voucher policy for 2031." in text(client.get("/vouchers/eligibility?year=2031"))


def test_new_claim_shows_the_trace_then_saves_a_draft(client, factory, world):
    record = service(world, minutes=90)  # 750.00 yuan paid → 375.00 yuan subsidy
    signed(client, factory, world.sme_user)
    page = client.get("/vouchers/claims/new")
    assert page.status_code == 200 and f'value="{record.id}"' in text(page)
    data = {"policy_id": str(world.policy.id), "record_ids": [str(record.id)]}
    preview = submit(client, "/vouchers/claims/new", data | {"action": "preview"})
    html = text(preview)
    assert preview.status_code == 200 and "37500.0000" in html and "¥375.00" in html
    assert db.session.scalar(select(VoucherClaim.id)) is None  # the preview saves nothing
    saved = submit(client, "/vouchers/claims/new", data | {"action": "create"})
    assert saved.status_code == 302
    claim_id = int(re.search(r"/claims/(\d+)", saved.location).group(1))
    assert claim_row(claim_id).status == "draft" and claim_row(claim_id).subsidy_fen == 37_500
    empty = submit(client, "/vouchers/claims/new", {"policy_id": str(world.policy.id), "action": "create"})
    assert empty.status_code == 422 and "Choose at least one service record." in field_errors(text(empty))


def test_lines_evidence_submit_and_withdraw(client, factory, world):
    first, second = service(world), service(world, minutes=120)
    claim = draft_claim(world, [first])
    signed(client, factory, world.sme_user)
    path = claim_page(claim.id)
    refused = submit(client, f"{path}/submit", {"submit-invoice_nos": "32001\n32002"}, page=path)
    assert refused.status_code == 409 and "Upload the payment proofs before submitting." in text(refused)
    changed = submit(client, f"{path}/lines", {"lines-record_ids": [str(first.id), str(second.id)]}, page=path)
    assert changed.status_code == 302 and claim_row(claim.id).subsidy_fen == 75_000
    no_file = submit(client, f"{path}/evidence", {}, page=path)
    assert no_file.status_code == 422 and "Choose a file." in field_errors(text(no_file))
    token = csrf_from(text(client.get(path)))
    uploaded = client.post(f"{path}/evidence", data={"csrf_token": token, "evidence-file": (
        io.BytesIO(b"%PDF-1.4 proof"), "付款凭证.pdf")}, content_type="multipart/form-data")
    assert uploaded.status_code == 302
    html = text(client.get(path))
    assert "付款凭证.pdf" in html and "SHA-256" in html
    link = re.search(r'href="(/vouchers/claims/\d+/files/\d+)"', html).group(1)
    assert client.get(link).data == b"%PDF-1.4 proof"
    done = submit(client, f"{path}/submit", {"submit-invoice_nos": "32001\n32002"}, page=path)
    assert done.status_code == 302 and claim_row(claim.id).status == "submitted"
    assert sorted(claimed_records(claim.id)) == sorted([first.id, second.id])
    withdrawn = submit(client, f"{path}/withdraw", page=path)
    assert withdrawn.status_code == 302 and claim_row(claim.id).status == "withdrawn"
    assert claimed_records(claim.id) == []


def test_other_enterprises_and_providers_do_not_see_a_claim(client, factory, world):
    claim = submitted_claim(world, [service(world)])
    signed(client, factory, factory.user(factory.org("enterprise"), ("sme_user",)))
    assert client.get(claim_page(claim.id)).status_code == 404
    client.post("/logout")
    other = client.application.test_client()
    signed(other, factory, world.unit.operator)
    assert other.get(claim_page(claim.id)).status_code == 404
    assert other.get("/vouchers/queue").status_code == 403
    assert client.application.test_client().get(claim_page(claim.id)).status_code == 302  # to the login page


def test_auditor_queue_filters_and_decides(client, factory, world):
    big = submitted_claim(world, [service(world)], invoice_nos=["DUP-1"])
    dup = submitted_claim(world, [service(world)], invoice_nos=["DUP-1"])
    signed(client, factory, world.auditor1)
    html = text(client.get("/vouchers/queue"))
    assert f'data-claim="{big.id}"' in html and f'data-claim="{dup.id}"' in html
    html = text(client.get("/vouchers/queue?status=all&signal=duplicate_invoice"))
    assert f'data-claim="{dup.id}"' in html and f'data-claim="{big.id}"' not in html
    assert "Invoice number also used" in text(client.get(claim_page(dup.id)))
    path = claim_page(big.id)
    assert submit(client, f"{path}/review", page=path).status_code == 302
    assert claim_row(big.id).status == "under_review"
    empty = submit(client, f"{path}/reject", {"reject-reason": ""}, page=path)
    assert empty.status_code == 422 and "Give the reason." in field_errors(text(empty))
    assert submit(client, f"{path}/approve", page=path).status_code == 302
    row = claim_row(big.id)
    assert row.status == "approved" and row.notice_until is not None
    again = submit(client, f"{path}/review", page=path)
    assert again.status_code == 409
    path = claim_page(dup.id)
    submit(client, f"{path}/review", page=path)
    returned = submit(client, f"{path}/return", {"return-reason": "请补充发票原件"}, page=path)
    assert returned.status_code == 302 and claim_row(dup.id).status == "returned"
    assert "请补充发票原件" in text(client.get(path))


def test_conflict_of_interest_on_the_page(client, factory, world):
    claim = submitted_claim(world, [service(world)])
    insider = factory.user(world.unit.org, ("commission_auditor",), totp=True)
    signed(client, factory, insider)
    path = claim_page(claim.id)
    html = text(client.get(path))
    assert "you may not decide it" in html and "Take this claim for review" not in html
    refused = submit(client, f"{path}/review", page=path)
    assert refused.status_code == 403 and claim_row(claim.id).status == "submitted"


def test_two_auditors_on_the_pages(client, factory, frozen_clock):
    world = voucher_world(factory, fee_per_hour_fen=6_000_000)
    claim = submitted_claim(world, [service(world, minutes=480, paid_fen=24_000_000)])
    signed(client, factory, world.auditor1)
    path = claim_page(claim.id)
    submit(client, f"{path}/review", page=path)
    assert submit(client, f"{path}/approve", page=path).status_code == 302
    assert claim_row(claim.id).status == "under_review"
    second = submit(client, f"{path}/approve", page=path)
    assert second.status_code == 409 and "a different auditor must approve it too" in text(second)


def test_officer_pays_after_the_notice(client, factory, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    other = client.application.test_client()
    signed(other, factory, world.officer)
    path = claim_page(claim.id)
    assert "once the public notice ends" in text(other.get(path))
    early = submit(other, f"{path}/pay", {"pay-paid_on": "2026-12-02", "pay-payment_ref": "P-1"}, page=path)
    assert early.status_code == 409 and "The public notice has not ended yet." in text(early)
    frozen_clock.move(days=7)
    html = text(other.get("/vouchers/payouts"))
    assert f'data-claim="{claim.id}"' in html and "Record the payment" in html
    bad = submit(other, f"{path}/pay", {"pay-paid_on": "", "pay-payment_ref": "P-1"}, page=path)
    assert bad.status_code == 422 and "Choose a date." in field_errors(text(bad))
    paid = submit(other, f"{path}/pay", {"pay-paid_on": "2026-12-08", "pay-payment_ref": "财付〔2026〕1号"},
                  page="/vouchers/payouts")
    assert paid.status_code == 302 and claim_row(claim.id).status == "paid"
    assert "财付〔2026〕1号" in text(other.get("/vouchers/payouts"))


def test_officer_defines_a_policy_and_a_new_version(client, factory, world):
    signed(client, factory, world.officer)
    assert "New version" in text(client.get("/vouchers/policies"))
    form = {"year": "2027", "valid_from": "2027-01-01", "valid_to": "2027-12-31", "budget": "5000000",
            "rate_bp": "5000", "enterprise_annual_cap": "300000", "min_claim": "0",
            "eligible_modes": ["machine_time", "experiment"], "provider_region_prefixes": "3201, 32",
            "claimant_region_prefixes": "3201", "sme_max_staff": "500", "sme_max_revenue": "200000000",
            "sme_max_assets": "200000000"}
    bad = submit(client, "/vouchers/policies/new", form | {"budget": "12.345"})
    assert bad.status_code == 422 and "An amount in yuan with at most two decimals." in field_errors(text(bad))
    made = submit(client, "/vouchers/policies/new", form)
    assert made.status_code == 302
    db.session.rollback()
    policy = db.session.scalar(select(VoucherPolicy).where(VoucherPolicy.year == 2027))
    assert policy.budget_fen == 500_000_000 and policy.per_claim_cap_fen == 30_000_000
    assert policy.provider_region_prefixes == "3201,32" and policy.eligible_modes == "machine_time,experiment"
    dup = submit(client, "/vouchers/policies/new", form)
    assert dup.status_code == 409
    page = client.get(f"/vouchers/policies/new?supersedes={policy.id}")
    assert 'value="5000000.00"' in text(page)
    version = submit(client, f"/vouchers/policies/new?supersedes={policy.id}",
                     form | {"supersedes_id": str(policy.id), "rate_bp": "6000"},
                     page=f"/vouchers/policies/new?supersedes={policy.id}")
    assert version.status_code == 302
    db.session.rollback()
    newest = db.session.scalar(select(VoucherPolicy).where(VoucherPolicy.year == 2027, VoucherPolicy.version == 2))
    assert newest.rate_bp == 6000 and newest.supersedes_id == policy.id
    sme = client.application.test_client()
    signed(sme, factory, world.sme_user)
    assert sme.get("/vouchers/policies/new").status_code == 403


def test_public_notice_page_needs_no_login(client, factory, world, frozen_clock):
    shown = approved_claim(client, world, [service(world)])
    hidden = submitted_claim(world, [service(world)])
    page = client.application.test_client().get("/vouchers/notices")
    html = text(page)
    assert page.status_code == 200 and f'data-claim="{shown.id}"' in html and f'data-claim="{hidden.id}"' not in html
    assert world.sme.name in html and "250.00" in html
    assert world.sme.uscc not in html and "INV-" not in html
    frozen_clock.move(days=7)
    assert f'data-claim="{shown.id}"' not in text(client.application.test_client().get("/vouchers/notices"))


def test_landing_pages_by_role(client, factory, world):
    claim = submitted_claim(world, [service(world)])
    signed(client, factory, world.sme_user)
    html = text(client.get("/vouchers"))
    assert f'data-claim="{claim.id}"' in html and "New claim" in html
    detail = text(client.get(claim_page(claim.id)))
    assert "Recompute the signals" not in detail and "Take this claim for review" not in detail
    auditor = client.application.test_client()
    signed(auditor, factory, world.auditor1)
    assert auditor.get("/vouchers").status_code == 302


def test_withdraw_refused_after_approval_on_the_page(client, factory, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    signed(client, factory, world.sme_user)
    path = claim_page(claim.id)
    assert "Withdraw the claim" not in text(client.get(path))
    refused = submit(client, f"{path}/withdraw", page=path)
    assert refused.status_code == 409 and claim_row(claim.id).status == "approved"


def test_objection_during_the_notice_and_signal_refresh(client, factory, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    signed(client, factory, world.auditor2)
    path = claim_page(claim.id)
    html = text(client.get(path))
    assert "(objection during the notice)" in html and "No signal." in html
    with db.transaction():
        db.session.add(OrgRelation(organization_id=world.sme.id, other_id=world.unit.org.id, kind="shareholding"))
    assert submit(client, f"{path}/signals", page=path).status_code == 302
    assert "Provider related to the enterprise" in text(client.get(path))
    rejected = submit(client, f"{path}/reject", {"reject-reason": "公示期异议属实"}, page=path)
    assert rejected.status_code == 302 and claim_row(claim.id).status == "rejected"
    assert claimed_records(claim.id) == []
    assert act(client, world, claim.id, "reject", "auditor1", {"reason": "x"}).status_code == 409
