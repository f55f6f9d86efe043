"""The defence listing life cycle end to end through the API (measure 19), the civilian cycle and clearances.

draft → submit → review failed (back to draft with the comment) → resubmit → review passed with field_visibility →
approval by the superior authority → published; edit-after-publish revisions; the expiry warning and the expiry by
the scheduled job with a frozen clock; renewal; revocation; and the refusals docs/api.md names.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from instrument_share import jobs
from instrument_share.accounts.models import User
from instrument_share.audit.models import AuditEntry
from instrument_share.catalogue.fields import ALWAYS_VISIBLE, LEVEL_ORDER, RESTRICTABLE, Visibility
from instrument_share.catalogue.models import Clearance, Instrument
from instrument_share.db import db

from ..catalogue_support import (
    audit_actions,
    call,
    civilian_unit,
    create,
    defence_unit,
    publish_civilian,
    publish_defence,
    submit,
    values,
)
from ..conftest import make_test_app
from ..factories import Factory

# A review result: a mix of levels; fields left out (serial_no, location, fee_notes, …) are hidden.
VISIBILITY = {
    "name_zh": "public", "name_en": "public", "category_code": "public", "district": "public",
    "main_functions": "public", "service_modes": "public",
    "manufacturer": "registered", "country": "registered", "original_value_fen": "registered", "owner_id": "registered",
    "model": "cleared", "fee_per_hour_fen": "cleared", "contact": "cleared", "technical_indicators": "cleared",
    "serial_no": "hidden",
}


def expected_keys(visibility: dict, level: str) -> set[str]:
    rank = LEVEL_ORDER[Visibility(level)]
    shown = {name for name in RESTRICTABLE if LEVEL_ORDER[Visibility(visibility.get(name, "hidden"))] <= rank}
    return set(ALWAYS_VISIBLE) | shown | ({"is_large"} if "original_value_fen" in shown else set())


def error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) >= {"error", "message", "fields"}
    if code:
        assert body["error"] == code, body
    return body


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.get_json()


@dataclass(frozen=True)
class Person:
    """A user as plain data: the scheduler's own app context ends the test's session, detaching ORM objects."""

    username: str
    email: str


def outbox_to(factory: Factory, *users) -> dict[str, list[str]]:
    db.session.rollback()
    return {u.username: [m.body for m in factory.outbox(u.email)] for u in users}


def run_defence_job(app) -> None:
    job = next(j for j in jobs.JOBS if j.name == "defence_approvals")
    jobs.run_job(app, job)
    db.session.rollback()


@pytest.fixture
def unit(factory):
    return defence_unit(factory)


@pytest.fixture
def viewers(factory, unit, client):
    """Headers for an SME user (registered), a user of an organisation the unit cleared, and another unit's operator."""
    sme = factory.user(factory.org("enterprise"), ("sme_user",))
    cleared = factory.user(factory.org("enterprise"), ("sme_user",))
    ok(call(client, "POST", f"/organizations/{unit.org.id}/clearances", unit.h("operator"),
            {"organization_id": cleared.organization_id, "agreement_version": "保密协议2026版"}), 201)
    other = civilian_unit(factory)
    return {"anonymous": {}, "registered": factory.bearer(sme), "cleared": factory.bearer(cleared),
            "other_operator": other.h("operator")}


# ---------------------------------------------------------------- the full defence cycle


def test_defence_listing_cycle_end_to_end(client, factory, unit, viewers, app):
    created = ok(call(client, "POST", "/instruments", unit.h("operator"), values()), 201)
    iid = created["id"]
    assert created["status"] == "draft" and created["is_defence"] is True
    assert created["owner_id"] == unit.org.id  # defaults to the caller's unit
    path = f"/instruments/{iid}"

    # A draft exists only for the unit and its approvers.
    for headers in viewers.values():
        error(call(client, "GET", path, headers), 404, "not_found")
    for who in ("operator", "reviewer", "approver"):
        assert ok(call(client, "GET", path, unit.h(who)))["name_zh"] == "场发射扫描电子显微镜"

    submitted = ok(call(client, "POST", f"{path}/submit", unit.h("operator")))
    assert submitted["status"] == "in_review"
    assert any(f"no. {iid}" in body or f"{iid}" in body for body in outbox_to(factory, unit.reviewer)[
        unit.reviewer.username]), "the reviewer is told a listing waits for review"
    error(call(client, "PATCH", path, unit.h("operator"), {"model": "SU9000"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/submit", unit.h("operator")), 409, "invalid_state")
    for headers in viewers.values():
        error(call(client, "GET", path, headers), 404)

    # A failed review needs a comment and sends the listing back to draft with it.
    body = error(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "failed"}), 422)
    assert "comment" in body["fields"]
    assert ok(call(client, "GET", path, unit.h("operator")))["status"] == "in_review"
    failed = ok(call(client, "POST", f"{path}/review", unit.h("reviewer"),
                     {"result": "failed", "comment": "出厂编号不得公开，请删除安放地址门牌号"}))
    assert failed["status"] == "draft"
    assert failed["review"] == {"passed": False, "comment": "出厂编号不得公开，请删除安放地址门牌号"}
    assert ok(call(client, "GET", path, unit.h("operator")))["review"]["comment"].startswith("出厂编号")
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2026〕1号"}),
          409, "invalid_state")

    # The draft is corrected directly and resubmitted.
    edited = ok(call(client, "PATCH", path, unit.h("operator"), {"location": "南京市玄武区"}))
    assert edited["location"] == "南京市玄武区" and "pending_revision" not in edited
    assert ok(call(client, "POST", f"{path}/submit", unit.h("operator")))["status"] == "in_review"

    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2026〕1号"}),
          409, "review_required")
    body = error(call(client, "POST", f"{path}/review", unit.h("reviewer"),
                      {"result": "passed", "field_visibility": {"name_zh": "public", "secret_field": "public"}}), 422)
    assert "field_visibility.secret_field" in body["fields"]
    error(call(client, "POST", f"{path}/review", unit.h("reviewer"),
               {"result": "passed", "field_visibility": {"name_zh": "everyone"}}), 422)
    passed = ok(call(client, "POST", f"{path}/review", unit.h("reviewer"),
                     {"result": "passed", "field_visibility": VISIBILITY, "comment": "同意按所列范围公开"}))
    assert passed["status"] == "in_review" and passed["review"]["passed"] is True
    assert passed["field_visibility"] == VISIBILITY
    error(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "passed", "field_visibility": {}}),
          409, "invalid_state")
    assert any(str(iid) in b for b in outbox_to(factory, unit.approver)[unit.approver.username])

    # Only the superior authority's approver approves; the unit's own reviewer cannot.
    error(call(client, "POST", f"{path}/approve", unit.h("reviewer"), {"approval_no": "科工批〔2026〕1号"}),
          403, "forbidden")
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "  "}), 422)
    error(call(client, "POST", f"{path}/approve", unit.h("approver"),
               {"approval_no": "科工批〔2026〕1号", "valid_until": "2000-01-01"}), 422)
    error(call(client, "POST", f"{path}/approve", unit.h("approver"),
               {"approval_no": "科工批〔2026〕1号", "valid_until": "not a date"}), 422)
    approved = ok(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2026〕1号"}))
    assert approved["status"] == "published"
    today = date.fromisoformat(approved["approval"]["approved_on"])
    assert approved["approval"]["approval_no"] == "科工批〔2026〕1号"
    assert date.fromisoformat(approved["approval"]["valid_until"]) == today + timedelta(days=365)  # default: 1 year
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2026〕2号"}),
          409, "invalid_state")
    error(call(client, "POST", f"{path}/publish", unit.h("operator")), 409, "invalid_state")

    # Each viewer sees exactly the fields of its level; the approval record stays with the unit and approvers.
    for name, level in (("anonymous", "public"), ("registered", "registered"), ("other_operator", "registered"),
                        ("cleared", "cleared")):
        seen = ok(call(client, "GET", path, viewers[name]))
        assert set(seen) == expected_keys(VISIBILITY, level), name
        listed = ok(call(client, "GET", "/instruments?q=电子显微镜", viewers[name]))
        assert [i["id"] for i in listed["items"]] == [iid]
        assert set(listed["items"][0]) == expected_keys(VISIBILITY, level)
    cleared_view = ok(call(client, "GET", path, viewers["cleared"]))
    assert cleared_view["model"] == "SU8010" and cleared_view["fee_per_hour_fen"] == 50_000
    assert "serial_no" not in cleared_view and "approval" not in cleared_view
    for who in ("operator", "reviewer", "approver"):
        full = ok(call(client, "GET", path, unit.h(who)))
        assert full["serial_no"] == "SN-2019-0001" and full["approval"]["approval_no"] == "科工批〔2026〕1号"

    assert audit_actions(iid) == [
        "instrument.created", "instrument.submitted", "instrument.review_failed", "instrument.updated",
        "instrument.submitted", "instrument.review_passed", "instrument.approved"]
    # The log names fields and levels, never restricted values.
    db.session.rollback()
    details = " ".join(db.session.scalars(select(AuditEntry.details).where(AuditEntry.object_id == str(iid))))
    assert "SN-2019-0001" not in details and "SU8010" not in details


def test_approval_with_an_explicit_validity(client, factory, unit):
    instrument = create(unit)
    submit(unit, instrument)
    path = f"/instruments/{instrument.id}"
    ok(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "passed", "field_visibility": {}}))
    approved = ok(call(client, "POST", f"{path}/approve", unit.h("approver"),
                       {"approval_no": "科工批〔2026〕7号", "valid_until": "2099-06-30"}))
    assert approved["approval"]["valid_until"] == "2099-06-30"
    # Nothing was made visible: others see only id, status and is_defence.
    assert set(ok(call(client, "GET", path))) == set(ALWAYS_VISIBLE)


# ---------------------------------------------------------------- refusals


def test_reviewer_who_drafted_the_listing_is_refused(client, factory, unit):
    both = factory.user(unit.org, ("provider_operator", "defence_approver"), totp=True)
    h = factory.bearer(both)
    iid = ok(call(client, "POST", "/instruments", h, values()), 201)["id"]
    ok(call(client, "POST", f"/instruments/{iid}/submit", h))
    error(call(client, "POST", f"/instruments/{iid}/review", h, {"result": "passed", "field_visibility": {}}),
          403, "reviewer_is_drafter")
    # Another reviewer of the unit may review it.
    ok(call(client, "POST", f"/instruments/{iid}/review", unit.h("reviewer"),
            {"result": "passed", "field_visibility": {}}))


def test_reviewer_who_edited_the_draft_is_refused(client, factory, unit):
    """Editing someone else's draft is drafting it: the four-eyes rule covers every author of the content."""
    both = factory.user(unit.org, ("provider_operator", "defence_approver"), totp=True)
    h = factory.bearer(both)
    iid = ok(call(client, "POST", "/instruments", unit.h("operator"), values()), 201)["id"]
    ok(call(client, "PATCH", f"/instruments/{iid}", h, {"serial_no": "SN-NEW"}))
    ok(call(client, "POST", f"/instruments/{iid}/submit", unit.h("operator")))
    error(call(client, "POST", f"/instruments/{iid}/review", h, {"result": "passed", "field_visibility": {}}),
          403, "reviewer_is_drafter")


def test_approvers_of_another_authority_and_reviewers_of_another_unit(client, factory, unit):
    stranger = defence_unit(factory)  # another unit under another authority
    instrument = create(unit)
    submit(unit, instrument)
    path = f"/instruments/{instrument.id}"
    # An unpublished listing does not exist for them (docs/api.md: 404 outside the unit and its approvers) …
    error(call(client, "POST", f"{path}/review", stranger.h("reviewer"), {"result": "passed"}), 404)
    ok(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "passed", "field_visibility": {}}))
    error(call(client, "POST", f"{path}/approve", stranger.h("approver"), {"approval_no": "X1"}), 404)
    error(call(client, "POST", f"{path}/revoke", stranger.h("approver"), {"reason": "x"}), 404)
    ok(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2026〕3号"}))
    # … and once it is published (and so visible), acting on it is forbidden.
    ok(call(client, "PATCH", path, unit.h("operator"), {"model": "SU9000"}))
    ok(call(client, "POST", f"{path}/submit", unit.h("operator")))
    error(call(client, "POST", f"{path}/review", stranger.h("reviewer"), {"result": "passed"}), 403, "forbidden")
    ok(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "passed", "field_visibility": {}}))
    error(call(client, "POST", f"{path}/approve", stranger.h("approver"), {"approval_no": "X1"}), 403, "forbidden")
    error(call(client, "POST", f"{path}/revoke", stranger.h("approver"), {"reason": "越权"}), 403, "forbidden")
    error(call(client, "PATCH", path, stranger.h("operator"), {"model": "X"}), 403, "forbidden")
    error(call(client, "POST", f"{path}/suspend", stranger.h("operator"), {"reason": "x"}), 403)
    # The operator cannot approve or review their unit's own listing either.
    error(call(client, "POST", f"{path}/approve", unit.h("operator"), {"approval_no": "X1"}), 403)
    error(call(client, "POST", f"{path}/review", unit.h("operator"), {"result": "passed"}), 403)
    # Anonymous callers must authenticate.
    error(call(client, "POST", f"{path}/submit"), 401)


def test_state_refusals(client, factory, unit):
    university = civilian_unit(factory)
    civilian = create(university)
    error(call(client, "POST", f"/instruments/{civilian.id}/submit", university.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"/instruments/{civilian.id}/review", university.h("operator"),
               {"result": "passed"}), 409)
    error(call(client, "POST", f"/instruments/{civilian.id}/resume", university.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"/instruments/{civilian.id}/suspend", university.h("operator"), {}), 409,
          "invalid_state")

    draft = create(unit)
    path = f"/instruments/{draft.id}"
    error(call(client, "POST", f"{path}/publish", unit.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "passed"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "X1"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/revoke", unit.h("approver"), {"reason": "x"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/resume", unit.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "maybe"}), 422)
    error(call(client, "POST", f"{path}/review", unit.h("reviewer"), "not an object"), 400)
    published = publish_defence(unit, {"name_zh": "public"})
    error(call(client, "POST", f"/instruments/{published.id}/publish", unit.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"/instruments/{published.id}/submit", unit.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"/instruments/{published.id}/resume", unit.h("operator")), 409, "invalid_state")
    error(call(client, "PATCH", f"/instruments/{published.id}", unit.h("operator"), {"is_defence": False}), 422)
    error(call(client, "PATCH", f"/instruments/{published.id}", unit.h("operator"), {"status": "draft"}), 422)
    error(call(client, "PATCH", f"/instruments/{published.id}", unit.h("operator"), {}), 422)


# ---------------------------------------------------------------- edit after publish


def test_edit_after_publish_creates_a_pending_revision(client, factory, unit, viewers):
    iid = publish_defence(unit, VISIBILITY).id
    path = f"/instruments/{iid}"
    drafted = ok(call(client, "PATCH", path, unit.h("operator"), {"name_zh": "冷场发射扫描电镜", "model": "SU9000"}))
    # The answer is the published object plus the pending revision.
    assert drafted["status"] == "published" and drafted["name_zh"] == "场发射扫描电子显微镜"
    assert drafted["pending_revision"]["status"] == "draft"
    assert drafted["pending_revision"]["changes"] == {"name_zh": "冷场发射扫描电镜", "model": "SU9000"}
    merged = ok(call(client, "PATCH", path, unit.h("operator"), {"fee_per_hour_fen": 80_000}))
    assert merged["pending_revision"]["changes"] == {"name_zh": "冷场发射扫描电镜", "model": "SU9000",
                                                     "fee_per_hour_fen": 80_000}

    def others_see_old():
        for headers in viewers.values():
            seen = ok(call(client, "GET", path, headers))
            assert seen["name_zh"] == "场发射扫描电子显微镜" and "pending_revision" not in seen
            assert seen.get("model", "SU8010") == "SU8010"
            assert not ok(call(client, "GET", "/instruments?q=冷场", headers))["items"]
            assert [i["id"] for i in ok(call(client, "GET", "/instruments?q=电子显微镜", headers))["items"]] == [iid]

    others_see_old()
    for who in ("reviewer", "approver"):
        assert ok(call(client, "GET", path, unit.h(who)))["pending_revision"]["changes"]["model"] == "SU9000"
    # In a result page too: the unit sees its pending revision, nobody else does.
    [listed] = ok(call(client, "GET", "/instruments?q=电子显微镜", unit.h("operator")))["items"]
    assert listed["pending_revision"]["changes"]["model"] == "SU9000"

    submitted = ok(call(client, "POST", f"{path}/submit", unit.h("operator")))
    assert submitted["status"] == "published" and submitted["pending_revision"]["status"] == "in_review"
    error(call(client, "PATCH", path, unit.h("operator"), {"model": "X"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/submit", unit.h("operator")), 409, "invalid_state")
    failed = ok(call(client, "POST", f"{path}/review", unit.h("reviewer"), {"result": "failed", "comment": "型号保密"}))
    assert failed["status"] == "published"
    assert failed["pending_revision"]["status"] == "draft"
    assert failed["pending_revision"]["review_comment"] == "型号保密"
    others_see_old()

    ok(call(client, "POST", f"{path}/submit", unit.h("operator")))
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2027〕1号"}),
          409, "review_required")
    new_visibility = VISIBILITY | {"model": "public", "fee_per_hour_fen": "registered"}
    ok(call(client, "POST", f"{path}/review", unit.h("reviewer"),
            {"result": "passed", "field_visibility": new_visibility}))
    others_see_old()
    approved = ok(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "科工批〔2027〕1号"}))
    assert approved["status"] == "published" and "pending_revision" not in approved
    assert approved["approval"]["approval_no"] == "科工批〔2027〕1号"

    anonymous = ok(call(client, "GET", path))
    assert anonymous["name_zh"] == "冷场发射扫描电镜" and anonymous["model"] == "SU9000"
    assert set(anonymous) == expected_keys(new_visibility, "public")
    assert ok(call(client, "GET", path, viewers["registered"]))["fee_per_hour_fen"] == 80_000
    assert [i["id"] for i in ok(call(client, "GET", "/instruments?q=冷场"))["items"]] == [iid]
    assert not ok(call(client, "GET", "/instruments?q=电子显微镜"))["items"]
    assert audit_actions(iid)[-7:] == [
        "instrument.revision_drafted", "instrument.revision_drafted", "instrument.revision_submitted",
        "instrument.review_failed", "instrument.revision_submitted", "instrument.review_passed",
        "instrument.revision_approved"]


def test_revision_drafter_cannot_review_it(client, factory, unit):
    both = factory.user(unit.org, ("provider_operator", "defence_approver"), totp=True)
    h = factory.bearer(both)
    iid = publish_defence(unit, VISIBILITY).id
    ok(call(client, "PATCH", f"/instruments/{iid}", h, {"contact": "李工 025-1"}))
    ok(call(client, "POST", f"/instruments/{iid}/submit", unit.h("operator")))
    error(call(client, "POST", f"/instruments/{iid}/review", h, {"result": "passed"}), 403, "reviewer_is_drafter")


# ---------------------------------------------------------------- validity: warning, expiry, renewal


def test_expiry_warning_then_expiry_by_the_scheduled_job_then_renewal(app, client, factory, frozen_clock, unit):
    # frozen at 2026-12-01 10:00 Asia/Shanghai
    colleague = factory.user(unit.org, ("provider_operator",))
    sme = factory.user(factory.org("enterprise"), ("sme_user",))
    iid = publish_defence(unit, VISIBILITY).id
    instrument = db.session.get(Instrument, iid)
    assert instrument.valid_until == date(2027, 12, 1)
    operator_id, reviewer_id, approver_id = unit.operator.id, unit.reviewer.id, unit.approver.id
    people = tuple(Person(u.username, u.email) for u in (unit.operator, colleague, unit.reviewer, unit.approver))
    sme = Person(sme.username, sme.email)
    before = {u.username: len(v) for u, v in zip(people, outbox_to(factory, *people).values(), strict=True)}
    sme_before = len(outbox_to(factory, sme)[sme.username])

    def mails_since():
        now = outbox_to(factory, *people)
        return {u.username: now[u.username][before[u.username]:] for u in people}

    frozen_clock.move(days=334)  # 2027-10-31: 31 days before the end
    run_defence_job(app)
    assert all(not m for m in mails_since().values())
    frozen_clock.move(days=1)  # 2027-11-01: 30 days before
    run_defence_job(app)
    warned = mails_since()
    for user in people:  # the unit's operators and approvers, and the superior authority's approver
        assert len(warned[user.username]) == 1, user.username
        assert f"{iid}" in warned[user.username][0] and "30" in warned[user.username][0]
        assert "SU8010" not in warned[user.username][0]  # mail names the listing by number only
    assert len(outbox_to(factory, sme)[sme.username]) == sme_before
    assert audit_actions(iid)[-1] == "instrument.expiry_warned"
    frozen_clock.move(hours=1)
    run_defence_job(app)
    frozen_clock.move(days=5)
    run_defence_job(app)
    assert all(len(m) == 1 for m in mails_since().values()), "warned only once"

    frozen_clock.move(days=25)  # 2027-12-01 10:00: the last valid day
    run_defence_job(app)
    assert db.session.get(Instrument, iid).status == "published"
    assert ok(call(client, "GET", f"/instruments/{iid}"))["status"] == "published"
    frozen_clock.move(hours=14)  # 2027-12-02 00:00 local: the approval has ended
    run_defence_job(app)
    db.session.expire_all()
    assert db.session.get(Instrument, iid).status == "suspended"
    assert audit_actions(iid)[-1] == "instrument.expired"
    error(call(client, "GET", f"/instruments/{iid}"), 404)
    assert not ok(call(client, "GET", "/instruments?q=电子显微镜"))["items"]
    # Fresh tokens: a year has passed.
    operator_h, reviewer_h, approver_h = (factory.bearer(db.session.get(User, i))
                                          for i in (operator_id, reviewer_id, approver_id))
    seen = ok(call(client, "GET", f"/instruments/{iid}", operator_h))
    assert seen["status"] == "suspended" and seen["status_reason"] == "approval_expired"
    assert any("has ended" in b or "已到期" in b for b in mails_since()[people[0].username][1:])

    error(call(client, "POST", f"/instruments/{iid}/resume", operator_h), 409, "approval_expired")
    error(call(client, "POST", f"/instruments/{iid}/approve", reviewer_h, {"approval_no": "续批1号"}), 403)
    renewed = ok(call(client, "POST", f"/instruments/{iid}/approve", approver_h, {"approval_no": "科工续〔2027〕9号"}))
    assert renewed["status"] == "published"
    assert renewed["approval"] == {"approval_no": "科工续〔2027〕9号", "approved_on": "2027-12-02",
                                   "valid_until": "2028-12-01"}
    assert audit_actions(iid)[-1] == "instrument.renewed"
    assert ok(call(client, "GET", f"/instruments/{iid}"))["name_zh"] == "场发射扫描电子显微镜"
    # The renewal is warned again before it ends.
    frozen_clock.move(days=336)
    run_defence_job(app)
    assert audit_actions(iid)[-1] == "instrument.expiry_warned"


def test_suspended_listing_resumes_while_valid(client, factory, unit, frozen_clock):
    iid = publish_defence(unit, VISIBILITY).id
    path = f"/instruments/{iid}"
    suspended = ok(call(client, "POST", f"{path}/suspend", unit.h("operator"), {"reason": "设备检修"}))
    assert suspended["status"] == "suspended" and suspended["status_reason"] == "设备检修"
    error(call(client, "GET", path), 404)
    error(call(client, "POST", f"{path}/approve", unit.h("approver"), {"approval_no": "X"}), 409, "invalid_state")
    assert ok(call(client, "POST", f"{path}/resume", unit.h("operator")))["status"] == "published"
    assert ok(call(client, "GET", path))["status"] == "published"
    assert audit_actions(iid)[-2:] == ["instrument.suspended", "instrument.resumed"]


def test_expiry_job_runs_without_a_request_or_server_name(database_url, tmp_path, frozen_clock):
    """In production the scheduler has no request and SERVER_NAME is not set: the job must still suspend listings
    and mail their links (built from BASE_URL)."""
    app = make_test_app(database_url, tmp_path, SERVER_NAME=None, BASE_URL="https://share.example.cn")
    with app.app_context():
        try:
            factory = Factory(app)
            unit = defence_unit(factory, with_headers=False)
            iid = publish_defence(unit, {"name_zh": "public"}).id
            frozen_clock.move(days=366)
            run_defence_job(app)
            assert db.session.get(Instrument, iid).status == "suspended"
            mails = [m.body for m in factory.outbox(unit.operator.email)]
            assert any(f"https://share.example.cn/instruments/{iid}" in body for body in mails)
        finally:
            db.session.remove()
            db.engine.dispose()


# ---------------------------------------------------------------- revocation


def test_revoke_at_any_time_by_an_approver(client, factory, unit, viewers):
    published = publish_defence(unit, VISIBILITY)
    path = f"/instruments/{published.id}"
    error(call(client, "POST", f"{path}/revoke", unit.h("operator"), {"reason": "x"}), 403)
    error(call(client, "POST", f"{path}/revoke", unit.h("approver"), {}), 422)
    revoked = ok(call(client, "POST", f"{path}/revoke", unit.h("approver"), {"reason": "涉密等级调整"}))
    assert revoked["status"] == "revoked" and revoked["status_reason"] == "涉密等级调整"
    for headers in viewers.values():
        error(call(client, "GET", path, headers), 404)
        assert not ok(call(client, "GET", "/instruments?q=电子显微镜", headers))["items"]
    error(call(client, "POST", f"{path}/revoke", unit.h("approver"), {"reason": "again"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/resume", unit.h("operator")), 409, "invalid_state")
    error(call(client, "PATCH", path, unit.h("operator"), {"model": "X"}), 409, "invalid_state")
    error(call(client, "POST", f"{path}/submit", unit.h("operator")), 409, "invalid_state")
    assert audit_actions(published.id)[-1] == "instrument.revoked"

    # The unit's own reviewer may revoke too, and a listing still in review can be revoked.
    in_review = create(unit)
    submit(unit, in_review)
    ok(call(client, "POST", f"/instruments/{in_review.id}/revoke", unit.h("reviewer"), {"reason": "撤回"}))
    assert audit_actions(in_review.id)[-1] == "instrument.revoked"
    # Suspended listings can be revoked as well.
    suspended = publish_defence(unit, VISIBILITY)
    ok(call(client, "POST", f"/instruments/{suspended.id}/suspend", unit.h("operator"), {"reason": "检修"}))
    assert ok(call(client, "POST", f"/instruments/{suspended.id}/revoke", unit.h("approver"),
                   {"reason": "停止共享"}))["status"] == "revoked"


# ---------------------------------------------------------------- civilian listings


def test_civilian_cycle(client, factory):
    university = civilian_unit(factory)
    other = civilian_unit(factory, "research_institute")
    sme = factory.bearer(factory.user(factory.org("enterprise"), ("sme_user",)))
    iid = ok(call(client, "POST", "/instruments", university.h("operator"), values()), 201)["id"]
    path = f"/instruments/{iid}"
    error(call(client, "GET", path), 404)
    error(call(client, "GET", path, other.h("operator")), 404)
    error(call(client, "POST", f"{path}/publish", other.h("operator")), 404)
    error(call(client, "POST", "/instruments", sme, values()), 403)
    error(call(client, "POST", "/instruments", other.h("operator"), values() | {"owner_id": university.org.id}), 403)
    error(call(client, "POST", "/instruments", university.h("operator"), values(name_zh="")), 422)
    error(call(client, "POST", "/instruments", university.h("operator"), values(category_code="ZZZZ")), 422)
    error(call(client, "POST", "/instruments", university.h("operator"), values(original_value_fen=-1)), 422)
    error(call(client, "POST", "/instruments", university.h("operator"), values(service_modes=["teleport"])), 422)

    published = ok(call(client, "POST", f"{path}/publish", university.h("operator")))
    assert published["status"] == "published" and published["is_defence"] is False
    anonymous = ok(call(client, "GET", path))
    assert set(anonymous) == set(ALWAYS_VISIBLE) | set(RESTRICTABLE) | {"is_large"}
    assert anonymous["is_large"] is True and "approval" not in anonymous
    error(call(client, "POST", f"{path}/publish", university.h("operator")), 409, "invalid_state")
    for action in ("suspend", "retire"):
        error(call(client, "POST", f"{path}/{action}", other.h("operator"), {}), 403, "forbidden")
        error(call(client, "POST", f"{path}/{action}", sme, {}), 403)
    error(call(client, "PATCH", path, other.h("operator"), {"model": "X"}), 403)
    error(call(client, "POST", f"{path}/revoke", university.h("operator"), {"reason": "x"}), 409, "invalid_state")

    # A civilian listing is edited directly, without a revision.
    edited = ok(call(client, "PATCH", path, university.h("operator"), {"model": "SU9000"}))
    assert edited["model"] == "SU9000" and "pending_revision" not in edited
    assert ok(call(client, "GET", path))["model"] == "SU9000"

    assert ok(call(client, "POST", f"{path}/suspend", university.h("operator"), {"reason": "检修"}))["status"] == \
        "suspended"
    error(call(client, "GET", path), 404)
    error(call(client, "GET", path, sme), 404)
    assert not ok(call(client, "GET", "/instruments?q=电子显微镜"))["items"]
    assert ok(call(client, "POST", f"{path}/resume", university.h("operator")))["status"] == "published"
    assert ok(call(client, "GET", "/instruments?q=电子显微镜"))["total"] == 1
    assert ok(call(client, "POST", f"{path}/retire", university.h("operator")))["status"] == "retired"
    error(call(client, "GET", path), 404)
    error(call(client, "POST", f"{path}/retire", university.h("operator")), 409, "invalid_state")
    error(call(client, "POST", f"{path}/resume", university.h("operator")), 409, "invalid_state")
    error(call(client, "PATCH", path, university.h("operator"), {"model": "X"}), 409, "invalid_state")
    assert ok(call(client, "GET", path, university.h("operator")))["status"] == "retired"
    assert audit_actions(iid) == ["instrument.created", "instrument.published", "instrument.updated",
                                  "instrument.suspended", "instrument.resumed", "instrument.retired"]


def test_civilian_publish_straight_from_services(factory):
    instrument = publish_civilian(civilian_unit(factory, with_headers=False))
    assert instrument.status == "published" and instrument.published_at is not None


# ---------------------------------------------------------------- clearances


def test_clearances_api(client, factory, unit):
    enterprise = factory.org("enterprise")
    user = factory.user(enterprise, ("sme_user",))
    user_h = factory.bearer(user)
    published = publish_defence(unit, VISIBILITY)
    path = f"/instruments/{published.id}"
    assert "model" not in ok(call(client, "GET", path, user_h))
    base = f"/organizations/{unit.org.id}/clearances"

    granted = ok(call(client, "POST", base, unit.h("operator"),
                      {"organization_id": enterprise.id, "agreement_version": "保密协议V3"}), 201)
    assert granted["organization_id"] == enterprise.id and granted["unit_id"] == unit.org.id
    assert granted["agreement_version"] == "保密协议V3" and date.fromisoformat(granted["agreed_on"])
    assert ok(call(client, "GET", path, user_h))["model"] == "SU8010"  # a cleared user now sees cleared fields
    error(call(client, "POST", base, unit.h("reviewer"),
               {"organization_id": enterprise.id, "agreement_version": "V4"}), 409, "already_cleared")

    pending = factory.org("enterprise", verified=False)
    for bad in ({"organization_id": pending.id, "agreement_version": "V3"},
                {"organization_id": 10**9, "agreement_version": "V3"},
                {"organization_id": unit.org.id, "agreement_version": "V3"},
                {"organization_id": enterprise.id, "agreement_version": " "},
                {"organization_id": "1", "agreement_version": "V3"}):
        assert call(client, "POST", base, unit.h("operator"), bad).status_code == 422, bad
    error(call(client, "POST", base, unit.h("operator"), {"organization_id": enterprise.id}), 422)

    # Who may manage: the unit's operators and defence approvers; nobody else.
    sme_of_unit = factory.bearer(factory.user(unit.org, ("sme_user",)))
    university = civilian_unit(factory)
    other_enterprise = factory.org("enterprise")
    for headers in (sme_of_unit, university.h("operator"), unit.h("approver"), user_h):
        error(call(client, "POST", base, headers, {"organization_id": other_enterprise.id,
                                                   "agreement_version": "V1"}), 403)
        error(call(client, "GET", base, headers), 403)
        error(call(client, "DELETE", f"{base}/{enterprise.id}", headers), 403)
    error(call(client, "GET", base), 401)
    error(call(client, "POST", f"/organizations/{university.org.id}/clearances", university.h("operator"),
               {"organization_id": enterprise.id, "agreement_version": "V1"}), 403)  # not a defence unit
    error(call(client, "GET", "/organizations/999999999/clearances", unit.h("operator")), 404)
    # A pending organisation is not visible to them: its id answers like a missing one, not 403 (docs/api.md).
    body = {"organization_id": other_enterprise.id, "agreement_version": "V1"}
    for method, tail in (("GET", ""), ("POST", ""), ("DELETE", f"/{enterprise.id}")):
        hidden = call(client, method, f"/organizations/{pending.id}/clearances{tail}", unit.h("operator"), body)
        missing = call(client, method, f"/organizations/999999999/clearances{tail}", unit.h("operator"), body)
        assert (hidden.status_code, hidden.get_json()) == (missing.status_code, missing.get_json()) == (
            404, missing.get_json()), method
    ok(call(client, "POST", base, unit.h("reviewer"), {"organization_id": other_enterprise.id,
                                                       "agreement_version": "V1"}), 201)

    listed = ok(call(client, "GET", base, unit.h("reviewer")))
    assert [c["organization_id"] for c in listed["items"]] == [enterprise.id, other_enterprise.id]
    assert listed["total"] == 2 and set(listed) == {"items", "page", "per_page", "total"}
    assert listed["items"][0]["organization_name"] == enterprise.name

    removed = ok(call(client, "DELETE", f"{base}/{enterprise.id}", unit.h("operator")))
    assert removed["removed"] is True
    error(call(client, "DELETE", f"{base}/{enterprise.id}", unit.h("operator")), 404)
    assert "model" not in ok(call(client, "GET", path, user_h))
    assert [c["organization_id"] for c in ok(call(client, "GET", base, unit.h("operator")))["items"]] == [
        other_enterprise.id]
    db.session.rollback()
    assert db.session.scalar(select(Clearance).where(Clearance.organization_id == enterprise.id)) is None
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "clearance")
                                      .order_by(AuditEntry.seq)))
    assert actions == ["clearance.granted", "clearance.granted", "clearance.removed"]


def test_cleared_users_of_a_suspended_organisation_lose_their_clearance(client, factory, unit):
    from instrument_share.accounts import organizations
    from instrument_share.catalogue.visibility import viewer_for, viewer_level

    from ..factories import Operator

    enterprise = factory.org("enterprise")
    user = factory.user(enterprise, ("sme_user",))
    ok(call(client, "POST", f"/organizations/{unit.org.id}/clearances", unit.h("operator"),
            {"organization_id": enterprise.id, "agreement_version": "V1"}), 201)
    db.session.rollback()
    assert viewer_level(viewer_for(db.session.get(User, user.id)), unit.org.id) == "cleared"
    with db.transaction():
        organizations.suspend_organization(actor=Operator(), org=db.session.merge(enterprise), reason="test")
    db.session.expire_all()
    assert viewer_level(viewer_for(db.session.get(User, user.id)), unit.org.id) == "public"


@pytest.mark.parametrize("when", [datetime(2026, 12, 31, 16, 30, tzinfo=UTC)])
def test_default_validity_counts_local_days(client, factory, unit, frozen_clock, when):
    """Approved at 00:30 on 1 January (Asia/Shanghai): the day is the local one, the default end a year later."""
    frozen_clock.move(seconds=(when - frozen_clock.now).total_seconds())
    headers = {who: factory.bearer(u) for who, u in (("op", unit.operator), ("rv", unit.reviewer),
                                                      ("ap", unit.approver))}
    instrument = create(unit)
    ok(call(client, "POST", f"/instruments/{instrument.id}/submit", headers["op"]))
    ok(call(client, "POST", f"/instruments/{instrument.id}/review", headers["rv"], {"result": "passed"}))
    approved = ok(call(client, "POST", f"/instruments/{instrument.id}/approve", headers["ap"],
                       {"approval_no": "科工批〔2027〕1号"}))
    assert approved["approval"]["approved_on"] == "2027-01-01"
    assert approved["approval"]["valid_until"] == "2028-01-01"
