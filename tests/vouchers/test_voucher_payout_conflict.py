"""Issue 13 (8): the officer who pays a claim is never one of its approvers (403 conflict_of_interest, API and page).

An account cannot hold both commission roles any more, so the situation that remains possible is built directly:
an auditor approves, then the account loses the auditor role and gains the officer role before the payout.
"""

import pytest
from sqlalchemy import delete

from instrument_share.accounts.models import RoleGrant, User
from instrument_share.db import db

from .._pages import sign_in, submit, text
from ..factories import english
from ..voucher_workflow_support import act, approved_claim, call, claim_row, service, submitted_claim, voucher_world

PAYMENT = {"paid_on": "2026-12-08", "payment_ref": "财付〔2026〕9号"}


@pytest.fixture
def world(factory, frozen_clock):
    return voucher_world(factory)


def becomes_officer(user) -> None:
    with db.transaction():
        db.session.execute(delete(RoleGrant).where(RoleGrant.user_id == user.id,
                                                   RoleGrant.role == "commission_auditor"))
        db.session.add(RoleGrant(user_id=user.id, role="commission_officer"))
    db.session.refresh(db.session.get(User, user.id))


def test_an_approver_who_became_an_officer_may_not_pay_the_claim(client, factory, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])  # approved by auditor1
    becomes_officer(world.auditor1)
    frozen_clock.move(days=7, seconds=1)
    headers = factory.bearer(world.auditor1)
    refused = call(client, "POST", f"/voucher-claims/{claim.id}/pay", headers, PAYMENT)
    assert refused.status_code == 403 and refused.get_json()["error"] == "conflict_of_interest"
    assert claim_row(claim.id).status == "approved"
    assert act(client, world, claim.id, "pay", "officer", PAYMENT).status_code == 200  # another officer pays
    assert claim_row(claim.id).status == "paid"


def test_either_approver_of_a_two_auditor_claim_is_refused(client, factory, world, frozen_clock):
    client.application.config["VOUCHER_TWO_AUDITOR_THRESHOLD_FEN"] = 0  # every claim needs two auditors
    claim = submitted_claim(world, [service(world)])
    for action, who in (("review", "auditor1"), ("approve", "auditor1"), ("approve", "auditor2")):
        assert act(client, world, claim.id, action, who).status_code == 200
    becomes_officer(world.auditor1)  # the first approval: only in the claim's approvals, not its decision
    frozen_clock.move(days=7, seconds=1)
    refused = call(client, "POST", f"/voucher-claims/{claim.id}/pay", factory.bearer(world.auditor1), PAYMENT)
    assert refused.status_code == 403 and refused.get_json()["error"] == "conflict_of_interest"


def test_the_page_says_why_and_offers_no_payment_form(client, factory, world, frozen_clock):
    claim = approved_claim(client, world, [service(world)])
    becomes_officer(world.auditor1)
    frozen_clock.move(days=7, seconds=1)
    sign_in(client, factory, world.auditor1)
    english(client)
    path = f"/vouchers/claims/{claim.id}"
    page = text(client.get(path))
    assert "You approved this claim: a different officer must record its payout." in page
    assert f"/vouchers/claims/{claim.id}/pay" not in page
    refused = submit(client, f"{path}/pay", {"pay-paid_on": "2026-12-08", "pay-payment_ref": "P-1"}, page=path)
    assert refused.status_code == 403
    assert "You approved this claim: a different officer must record its payout." in text(refused)
    assert claim_row(claim.id).status == "approved"
