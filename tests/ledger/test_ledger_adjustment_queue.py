"""Finding adjustment requests without opening every service record: GET /api/v1/adjustment-requests (filters,
pagination, who may read) and the operators' page "Adjustment requests awaiting approval" with approve and reject
(a second operator approves, the requester cannot; rejecting needs a reason shown next to its field)."""

import re

import pytest
from sqlalchemy import select

from instrument_share.db import db
from instrument_share.ledger import entries
from instrument_share.ledger.models import AdjustmentRequest, RevenueEntry

from .._pages import field_errors, sign_in, text
from ..booking_support import api, expect
from ..factories import csrf_from, english
from ..ledger_support import append, make_ledger, standalone

QUEUE = "/adjustment-requests"
LIST_KEYS = {"items", "page", "per_page", "total"}


@pytest.fixture
def lg(frozen_clock, factory):
    return make_ledger(factory)


@pytest.fixture
def requests(lg):
    """On alice's record: r1 pending (credit), r3 rejected, r4 approved; on bob's record: r2 pending (debit).
    All requested by op1; a small adjustment goes straight to the ledger and is no request."""
    mine, bobs = standalone(lg), standalone(lg, lg.bob.org)
    r1 = append(lg, mine, "adjustment", 150_000, direction="credit", reason="goodwill")
    r2 = append(lg, bobs, "adjustment", 200_000, direction="debit", reason="extra samples")
    r3 = append(lg, mine, "adjustment", 120_000, direction="debit", reason="typo")
    r4 = append(lg, mine, "adjustment", 110_000, direction="credit", reason="late result")
    with db.transaction():
        entries.reject_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(r3), reason="wrong")
        entries.approve_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(r4))
    small = append(lg, mine, "adjustment", 500, direction="credit", reason="rounding")
    assert isinstance(small, RevenueEntry)
    return {"mine": mine.id, "bobs": bobs.id, "r1": r1.id, "r2": r2.id, "r3": r3.id, "r4": r4.id}


def ids(client, headers, query: str = "") -> list[int]:
    body = expect(api(client, "GET", f"/adjustment-requests{query}", headers), 200)
    assert set(body) == LIST_KEYS
    return [item["id"] for item in body["items"]]


# ------------------------------------------------------------------------------------------------ the API


def test_the_list_filters_by_status_unit_and_record(client, lg, requests):
    op2, unit = lg.headers["op2"], lg.unit.org.id
    r = requests
    assert ids(client, op2, f"?status=pending_approval&unit_id={unit}") == [r["r1"], r["r2"]]
    assert ids(client, op2) == [r["r1"], r["r2"], r["r3"], r["r4"]]
    assert ids(client, op2, "?status=rejected") == [r["r3"]]
    approved = expect(api(client, "GET", "/adjustment-requests?status=approved", op2), 200)["items"]
    assert [a["id"] for a in approved] == [r["r4"]] and approved[0]["entry_id"]
    assert db.session.get(RevenueEntry, approved[0]["entry_id"]).adjustment_request_id == r["r4"]
    assert ids(client, op2, f"?service_record_id={r['bobs']}") == [r["r2"]]
    assert ids(client, op2, f"?status=pending_approval&service_record_id={r['mine']}") == [r["r1"]]
    first = expect(api(client, "GET", "/adjustment-requests?status=pending_approval", op2), 200)["items"][0]
    assert (first["status"], first["direction"], first["amount_fen"], first["reason"], first["requested_by_id"],
            first["service_record_id"], first["unit_id"]) == ("pending_approval", "credit", 150_000, "goodwill",
                                                              lg.op1.id, r["mine"], unit)
    paged = expect(api(client, "GET", "/adjustment-requests?status=pending_approval&per_page=1&page=2", op2), 200)
    assert ([a["id"] for a in paged["items"]], paged["page"], paged["per_page"], paged["total"]) == \
        ([r["r2"]], 2, 1, 2)
    assert "status" in expect(api(client, "GET", "/adjustment-requests?status=pending", op2), 422,
                              "validation_failed")["fields"]
    assert "unit_id" in expect(api(client, "GET", "/adjustment-requests?unit_id=x", op2), 422)["fields"]
    assert "service_record_id" in expect(api(client, "GET", "/adjustment-requests?service_record_id=0", op2),
                                         422)["fields"]
    assert ids(client, op2, "?unit_id=2147483647") == []


def test_only_the_unit_the_user_organisation_and_the_commission_read_requests(client, factory, lg, requests):
    r = requests
    expect(api(client, "GET", "/adjustment-requests"), 401)
    expect(api(client, "GET", "/adjustment-requests", {"Authorization": "Bearer nonsense"}), 401)
    other = make_ledger(factory)  # another provider unit with its own operators
    assert ids(client, other.headers["op1"]) == []
    assert ids(client, other.headers["op1"], f"?unit_id={lg.unit.org.id}") == []
    assert ids(client, other.headers["op1"], f"?service_record_id={r['mine']}") == []
    assert ids(client, lg.headers["alice"]) == [r["r1"], r["r3"], r["r4"]]  # requests on its own record
    assert ids(client, lg.headers["bob"]) == [r["r2"]]
    assert ids(client, lg.headers["bob"], f"?service_record_id={r['mine']}") == []
    assert ids(client, lg.headers["commission"], "?status=pending_approval") == [r["r1"], r["r2"]]
    assert ids(client, lg.headers["op1"], f"?unit_id={lg.unit.org.id}") == [r["r1"], r["r2"], r["r3"], r["r4"]]


# ------------------------------------------------------------------------------------------------ the page


def as_(client, factory, user):
    fresh = client.application.test_client()
    sign_in(fresh, factory, user)
    english(fresh)
    return fresh


def post(client, path: str, data: dict, *, prefix: str = ""):
    token = csrf_from(client.get(QUEUE).get_data(as_text=True))
    return client.post(path, data=data | {f"{prefix}-csrf_token" if prefix else "csrf_token": token})


def rows(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-request="(\d+)"', html)]


def test_the_page_lists_pending_requests_and_hides_approve_from_the_requester(client, factory, lg, requests):
    r = requests
    assert client.get(QUEUE).status_code == 302  # anonymous: to the sign-in page
    op1 = as_(client, factory, lg.op1)
    page = text(op1.get(QUEUE))
    assert rows(page) == [r["r1"], r["r2"]]  # pending only, oldest first
    assert "Adjustment requests awaiting approval" in page and "goodwill" in page and "extra samples" in page
    assert "¥1,500.00" in page and "¥2,000.00" in page and lg.op1.username in page
    assert f"/adjustment-requests/{r['r1']}/approve" not in page
    assert "Another operator of your unit approves this request." in page
    assert f"/adjustment-requests/{r['r1']}/reject" in page  # the requester may withdraw it
    assert QUEUE in text(op1.get("/service-records")) and QUEUE in text(op1.get(f"/service-records/{r['mine']}"))
    refused = post(op1, f"/adjustment-requests/{r['r1']}/approve?from=queue", {})
    assert refused.status_code == 409 and "A different operator of the unit must approve" in text(refused)
    assert rows(text(refused)) == [r["r1"], r["r2"]]

    op2_page = text(as_(client, factory, lg.op2).get(QUEUE))
    assert f"/adjustment-requests/{r['r1']}/approve" in op2_page
    assert as_(client, factory, lg.alice.user).get(QUEUE).status_code == 403
    assert as_(client, factory, lg.commission).get(QUEUE).status_code == 403
    other = make_ledger(factory)
    assert rows(text(as_(client, factory, other.op1).get(QUEUE))) == []
    assert "No adjustment requests are waiting." in text(as_(client, factory, other.op1).get(QUEUE))
    assert post(as_(client, factory, other.op1), f"/adjustment-requests/{r['r1']}/approve?from=queue",
                {}).status_code == 404


def test_a_second_operator_approves_and_rejects_from_the_page(client, factory, lg, requests):
    r = requests
    op2 = as_(client, factory, lg.op2)
    before = entries.balance(r["mine"]).credit_fen
    assert op2.post(f"/adjustment-requests/{r['r1']}/approve?from=queue", data={}).status_code == 400  # no CSRF
    done = post(op2, f"/adjustment-requests/{r['r1']}/approve?from=queue", {})
    assert done.status_code == 302 and done.location.endswith(QUEUE)
    db.session.rollback()
    assert db.session.get(AdjustmentRequest, r["r1"]).status == "approved"
    entry = db.session.scalar(select(RevenueEntry).where(RevenueEntry.adjustment_request_id == r["r1"]))
    assert (entry.kind, entry.direction, entry.amount_fen, entry.entered_by_id) == ("adjustment", "credit", 150_000,
                                                                                   lg.op2.id)
    assert entries.balance(r["mine"]).credit_fen == before + 150_000
    page = text(op2.get(done.location))
    assert rows(page) == [r["r2"]] and "The adjustment is approved and added to the ledger." in page

    empty = post(op2, f"/adjustment-requests/{r['r2']}/reject?from=queue", {"reject-reason": " "}, prefix="reject")
    assert empty.status_code == 422 and field_errors(text(empty)) == ["Give the reason."]
    assert f'id="reject-reason-{r["r2"]}-error"' in text(empty)
    db.session.rollback()
    assert db.session.get(AdjustmentRequest, r["r2"]).status == "pending_approval"
    rejected = post(op2, f"/adjustment-requests/{r['r2']}/reject?from=queue", {"reject-reason": "not agreed"},
                    prefix="reject")
    assert rejected.status_code == 302 and rejected.location.endswith(QUEUE)
    db.session.rollback()
    decided = db.session.get(AdjustmentRequest, r["r2"])
    assert (decided.status, decided.decision_reason, decided.decided_by_id) == ("rejected", "not agreed", lg.op2.id)
    assert db.session.scalar(select(RevenueEntry).where(RevenueEntry.adjustment_request_id == r["r2"])) is None
    assert rows(text(op2.get(QUEUE))) == []
    again = post(op2, f"/adjustment-requests/{r['r2']}/reject?from=queue", {"reject-reason": "twice"},
                 prefix="reject")
    assert again.status_code == 409 and "already been decided" in text(again)
