"""Defence listings through the pages: submit → review (with field visibility) → approval, failed reviews, edits
after publication, the approver queue, expiring approvals, revocation, refusals and the clearance register."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from instrument_share.accounts.roles import Role
from instrument_share.catalogue.fields import RESTRICTABLE
from instrument_share.catalogue.models import Clearance, Instrument
from instrument_share.db import db

from .._pages import (
    INSTRUMENT_FORM,
    created_id,
    defence_setup,
    field_errors,
    reset_each_request,
    sign_in,
    submit,
    text,
)


@pytest.fixture(autouse=True)
def fresh_request_state(app):
    reset_each_request(app)


@pytest.fixture
def people(client, factory, frozen_clock):
    """The defence unit's operator (on `client`), its reviewer and the authority's approver, each signed in."""
    setup = defence_setup(factory)
    sign_in(client, factory, setup["operator"])
    setup["operator_client"] = client
    for who in ("reviewer", "approver"):
        setup[f"{who}_client"] = factory.app.test_client()
        sign_in(setup[f"{who}_client"], factory, setup[who])
    return setup


def section(response, section_id: str) -> str:
    """One <section> of the approver queue page."""
    return text(response).split(f'id="{section_id}"')[1].split("</section>")[0]


def instrument(instrument_id: int) -> Instrument:
    db.session.expire_all()
    return db.session.get(Instrument, instrument_id)


def draft_and_submit(operator, **changes) -> int:
    instrument_id = created_id(submit(operator, "/provider/instruments/new",
                                      INSTRUMENT_FORM | {"serial_no": "MARK-SERIAL"} | changes))
    manage = f"/provider/instruments/{instrument_id}"
    assert submit(operator, f"{manage}/submit", page=manage).status_code == 302
    return instrument_id


def review_form(levels: dict, result: str = "passed", comment: str = "") -> dict:
    data = {f"review-field_visibility_{name}": levels.get(name, "hidden") for name in RESTRICTABLE}
    return data | {"review-result": result, "review-comment": comment}


def review(client, instrument_id: int, levels: dict, result: str = "passed", comment: str = ""):
    page = f"/approvals/instruments/{instrument_id}"
    return submit(client, f"{page}/review", review_form(levels, result, comment), page=page)


def approve(client, instrument_id: int, approval_no: str = "国科工批〔2026〕12号", valid_until: str | None = None):
    page = f"/approvals/instruments/{instrument_id}"
    html = text(client.get(page))
    proposed = valid_until or html.split('name="approve-valid_until" type="date" value="')[1].split('"')[0]
    return submit(client, f"{page}/approve", {"approve-approval_no": approval_no,
                                              "approve-valid_until": proposed}, page=page)


PUBLIC_LEVELS = {"name_zh": "public", "model": "registered", "category_code": "public", "owner_id": "public"}


def test_defence_listing_from_draft_to_publication_through_the_pages(people, factory):
    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    instrument_id = draft_and_submit(operator)
    assert instrument(instrument_id).status == "in_review"

    assert f"/approvals/instruments/{instrument_id}" in section(reviewer.get("/approvals"), "review")
    assert f"/approvals/instruments/{instrument_id}" not in text(approver.get("/approvals"))  # not reviewed yet
    page = text(reviewer.get(f"/approvals/instruments/{instrument_id}"))
    assert "MARK-SERIAL" in page  # the reviewer sees the full listing
    for name in RESTRICTABLE:  # one visibility select per restrictable field, hidden by default
        assert f'name="review-field_visibility_{name}"' in page
    assert page.count('<option selected value="hidden">') == len(RESTRICTABLE)
    assert "approve-approval_no" not in page  # the unit's reviewer does not approve

    assert review(reviewer, instrument_id, PUBLIC_LEVELS).status_code == 302
    assert f"/approvals/instruments/{instrument_id}" not in text(reviewer.get("/approvals"))
    assert f"/approvals/instruments/{instrument_id}" in section(approver.get("/approvals"), "approve")
    assert "review-result" not in text(approver.get(f"/approvals/instruments/{instrument_id}"))

    today = date(2026, 12, 1)
    response = approve(approver, instrument_id)
    assert response.status_code == 302
    saved = instrument(instrument_id)
    assert (saved.status, saved.approval_no, saved.valid_until) == ("published", "国科工批〔2026〕12号",
                                                                     today + timedelta(days=365))
    assert f"/approvals/instruments/{instrument_id}" not in section(approver.get("/approvals"), "approve")
    assert f"/approvals/instruments/{instrument_id}" in section(approver.get("/approvals"), "others")

    public = text(factory.app.test_client().get(f"/instruments/{instrument_id}"))
    assert "场发射扫描电子显微镜" in public and "SU8010" not in public and "MARK-SERIAL" not in public
    registered = factory.app.test_client()
    sign_in(registered, factory, factory.user(roles=(Role.sme_user,)))
    page = text(registered.get(f"/instruments/{instrument_id}"))
    assert "SU8010" in page and "MARK-SERIAL" not in page
    assert "MARK-SERIAL" in text(operator.get(f"/provider/instruments/{instrument_id}"))


def test_a_failed_review_returns_the_draft_with_the_comment(people):
    operator, reviewer = people["operator_client"], people["reviewer_client"]
    instrument_id = draft_and_submit(operator)
    refused = review(reviewer, instrument_id, {}, result="failed")  # a failed review needs its reason
    assert refused.status_code == 422 and field_errors(text(refused))
    assert instrument(instrument_id).status == "in_review"
    comment = "出厂编号不得公开，请删除技术指标中的涉密参数"
    assert review(reviewer, instrument_id, {}, "failed", comment).status_code == 302
    assert instrument(instrument_id).status == "draft"
    page = text(operator.get(f"/provider/instruments/{instrument_id}"))
    assert comment in page
    assert f"/provider/instruments/{instrument_id}/submit" in page  # it can be corrected and submitted again


def test_the_reviewer_never_reviews_what_they_drafted(people, factory, client):
    unit = people["unit"]
    both = factory.user(unit, roles=(Role.provider_operator, Role.defence_approver), totp=True)
    own = factory.app.test_client()
    sign_in(own, factory, both)
    instrument_id = draft_and_submit(own)
    assert f"/approvals/instruments/{instrument_id}" not in section(own.get("/approvals"), "review")
    page = text(own.get(f"/approvals/instruments/{instrument_id}"))
    assert "review-result" not in page
    assert review(own, instrument_id, PUBLIC_LEVELS).status_code == 403
    assert instrument(instrument_id).review_passed_at is None
    assert f"/approvals/instruments/{instrument_id}" in section(people["reviewer_client"].get("/approvals"), "review")


def test_an_edit_after_publication_waits_in_a_revision(people, factory):
    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    instrument_id = draft_and_submit(operator)
    review(reviewer, instrument_id, PUBLIC_LEVELS)
    approve(approver, instrument_id)

    manage = f"/provider/instruments/{instrument_id}"
    response = submit(operator, f"{manage}/edit", INSTRUMENT_FORM | {"serial_no": "MARK-SERIAL",
                                                                     "name_zh": "冷场发射扫描电镜"})
    assert response.status_code == 302
    saved = instrument(instrument_id)
    assert saved.status == "published" and saved.name_zh == "场发射扫描电子显微镜"
    assert json.loads(saved.pending_revision.changes) == {"name_zh": "冷场发射扫描电镜"}  # only what changed
    page = text(operator.get(manage))
    assert "冷场发射扫描电镜" in page and "场发射扫描电子显微镜" in page  # the revision next to the approved value
    public = factory.app.test_client()
    assert "冷场发射扫描电镜" not in text(public.get(f"/instruments/{instrument_id}"))

    assert f"/approvals/instruments/{instrument_id}" not in section(reviewer.get("/approvals"), "review")
    submit(operator, f"{manage}/submit", page=manage)
    assert f"/approvals/instruments/{instrument_id}" in section(reviewer.get("/approvals"), "review")
    review_page = text(reviewer.get(f"/approvals/instruments/{instrument_id}"))
    assert "冷场发射扫描电镜" in review_page  # the revision's changes are shown to the reviewer
    review(reviewer, instrument_id, PUBLIC_LEVELS | {"district": "public"})
    assert f"/approvals/instruments/{instrument_id}" in section(approver.get("/approvals"), "approve")
    assert approve(approver, instrument_id, "国科工批〔2026〕13号").status_code == 302
    shown = text(public.get(f"/instruments/{instrument_id}"))
    assert "冷场发射扫描电镜" in shown and "江宁区" in shown
    assert instrument(instrument_id).pending_revision is None


def test_expiring_approvals_are_listed_and_revocation_needs_a_reason(people, factory, frozen_clock):
    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    instrument_id = draft_and_submit(operator)
    review(reviewer, instrument_id, PUBLIC_LEVELS)
    assert approve(approver, instrument_id, valid_until="2026-12-21").status_code == 302
    for client in (reviewer, approver):
        expiring = section(client.get("/approvals"), "expiring")
        assert f"/approvals/instruments/{instrument_id}" in expiring and "2026-12-21" in expiring

    page = f"/approvals/instruments/{instrument_id}"
    refused = submit(approver, f"{page}/revoke", {"revoke-reason": ""}, page=page)
    assert refused.status_code == 422 and field_errors(text(refused))
    assert submit(approver, f"{page}/revoke", {"revoke-reason": "保密要求变化"}, page=page).status_code == 302
    assert instrument(instrument_id).status == "revoked"
    assert factory.app.test_client().get(f"/instruments/{instrument_id}").status_code == 404
    assert "保密要求变化" in text(operator.get(f"/provider/instruments/{instrument_id}"))


def test_bad_approval_input_is_a_field_error(people):
    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    instrument_id = draft_and_submit(operator)
    review(reviewer, instrument_id, PUBLIC_LEVELS)
    for data in ({"approve-approval_no": "", "approve-valid_until": "2027-12-01"},
                 {"approve-approval_no": "X1", "approve-valid_until": "2020-01-01"},
                 {"approve-approval_no": "X1", "approve-valid_until": "not a date"}):
        page = f"/approvals/instruments/{instrument_id}"
        response = submit(approver, f"{page}/approve", data, page=page)
        assert response.status_code == 422 and field_errors(text(response)), data
    bad_levels = review_form(PUBLIC_LEVELS) | {"review-field_visibility_model": "everyone"}
    response = submit(reviewer, f"/approvals/instruments/{instrument_id}/review", bad_levels, page="/approvals")
    assert response.status_code == 422
    assert instrument(instrument_id).status == "in_review"


def test_other_approvers_and_other_roles_are_refused(people, factory):
    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    in_review = draft_and_submit(operator)
    published = draft_and_submit(operator, name_zh="红外热像仪")
    review(reviewer, published, PUBLIC_LEVELS)
    approve(approver, published)

    stranger = factory.app.test_client()
    sign_in(stranger, factory, factory.user(factory.org("authority"), roles=(Role.defence_approver,), totp=True))
    assert stranger.get(f"/approvals/instruments/{in_review}").status_code == 404
    assert stranger.get(f"/approvals/instruments/{published}").status_code == 403
    response = submit(stranger, f"/approvals/instruments/{published}/revoke", {"revoke-reason": "x"},
                      page="/approvals")
    assert response.status_code == 403 and instrument(published).status == "published"
    assert f"/approvals/instruments/{in_review}" not in text(stranger.get("/approvals"))
    # The unit's reviewer may not approve, and an operator has no approvals page at all.
    assert approve(reviewer, published, valid_until="2027-06-01").status_code in (403, 422)
    assert operator.get("/approvals").status_code == 403
    assert review(approver, in_review, PUBLIC_LEVELS).status_code == 403
    assert instrument(in_review).review_passed_at is None


def test_the_clearance_register(people, factory):
    operator, reviewer = people["operator_client"], people["reviewer_client"]
    enterprise = factory.org("enterprise", name="南京某材料科技有限公司")
    pending = factory.org("enterprise", verified=False)
    response = submit(operator, "/clearances", {"organization_uscc": enterprise.uscc.lower(),
                                                "agreement_version": "保密协议 v2"})
    assert response.status_code == 302
    page = text(reviewer.get("/clearances"))
    assert "南京某材料科技有限公司" in page and "保密协议 v2" in page

    # A refusal answers the status the API gives it: 409 for a conflict with the current state, 422 for a bad value.
    for data, status in (({"organization_uscc": pending.uscc, "agreement_version": "v2"}, 422),
                         ({"organization_uscc": "91320100MA0000000X", "agreement_version": "v2"}, 422),
                         ({"organization_uscc": enterprise.uscc, "agreement_version": "v3"}, 409),
                         ({"organization_uscc": enterprise.uscc, "agreement_version": ""}, 422)):
        response = submit(operator, "/clearances", data)
        assert response.status_code == status, data
        assert field_errors(text(response)) or "flash-error" in text(response)
    assert db.session.scalar(select(Clearance.id).where(Clearance.organization_id == pending.id)) is None

    sme = factory.app.test_client()
    sign_in(sme, factory, factory.user(enterprise, roles=(Role.sme_user,)))
    assert sme.get("/clearances").status_code == 403
    assert submit(sme, f"/clearances/{enterprise.id}/remove", page="/").status_code == 403
    civilian = factory.app.test_client()
    sign_in(civilian, factory, factory.user(factory.org("university"), roles=(Role.provider_operator,)))
    assert civilian.get("/clearances").status_code == 403

    assert submit(reviewer, f"/clearances/{enterprise.id}/remove", page="/clearances").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Clearance.id)) is None
    assert "南京某材料科技有限公司" not in text(operator.get("/clearances"))
    assert operator.post(f"/clearances/{enterprise.id}/remove").status_code == 400  # no CSRF token


def test_an_ended_approval_suspends_the_listing_and_the_authority_renews_it(people, factory, frozen_clock):
    from instrument_share.catalogue import defence

    operator, reviewer, approver = people["operator_client"], people["reviewer_client"], people["approver_client"]
    instrument_id = draft_and_submit(operator)
    review(reviewer, instrument_id, PUBLIC_LEVELS)
    approve(approver, instrument_id, valid_until="2026-12-10")
    frozen_clock.move(days=10)
    with db.transaction():
        assert defence.expire_due() == 1  # the daily job
    manage = f"/provider/instruments/{instrument_id}"
    assert instrument(instrument_id).status == "suspended"
    refused = submit(operator, f"{manage}/resume", page=manage)
    assert refused.status_code == 409 and "flash-error" in text(refused)  # InvalidState, as in the API
    assert instrument(instrument_id).status == "suspended"

    waiting = section(approver.get("/approvals"), "approve")
    assert f"/approvals/instruments/{instrument_id}" in waiting
    assert approve(approver, instrument_id, "国科工批〔2026〕20号").status_code == 302
    renewed = instrument(instrument_id)
    assert (renewed.status, renewed.approval_no, renewed.valid_until) == (
        "published", "国科工批〔2026〕20号", date(2027, 12, 11))
