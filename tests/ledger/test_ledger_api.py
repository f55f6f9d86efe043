"""The service record, ledger, adjustment request, dispute and rating API (docs/api.md "Service records, revenue,
ratings"): shapes, status codes, who may read and write, filters and pagination."""

import pytest

from instrument_share.db import db
from instrument_share.ledger.models import RevenueEntry

from ..booking_support import DAY0, api, at, expect
from ..ledger_support import booking_in_progress, entry_count, make_ledger, sample_order, standalone

RECORD_KEYS = {"id", "booking_id", "instrument_id", "organization_id", "mode", "effective_minutes", "external",
               "fee_fen", "charge_entry_id"}
BALANCE_KEYS = {"charged_fen", "debit_fen", "credit_fen", "paid_fen", "refunded_fen", "owed_fen"}
ENTRY_KEYS = {"id", "service_record_id", "kind", "direction", "amount_fen", "entry_date", "invoice_no", "payment_ref",
              "reason", "entered_by_id"}


@pytest.fixture
def lg(frozen_clock, factory):
    ledger = make_ledger(factory)
    ledger.headers["clock"] = frozen_clock
    return ledger


def new_record(client, lg, org_id=None, **changes):
    body = {"instrument_id": lg.instrument.id, "organization_id": org_id or lg.alice.org.id, "mode": "machine_time",
            "actual_start": at(-1, "09:00").isoformat(), "actual_end": at(-1, "10:30").isoformat(),
            "samples": None, "result_delivered_on": None} | changes
    return api(client, "POST", "/service-records", lg.headers["op1"], body)


def entry(client, lg, record_id, kind="payment", amount=10_000, who="op1", **extra):
    body = {"service_record_id": record_id, "kind": kind, "amount_fen": amount, "entry_date": DAY0.isoformat()}
    return api(client, "POST", "/revenue-entries", lg.headers[who], body | extra)


# ------------------------------------------------------------------------------------------------ service records


def test_recording_a_booking_in_progress_completes_it_and_charges_the_fee(client, lg):
    booking_id = booking_in_progress(client, lg, lg.headers["clock"])
    body = expect(api(client, "POST", f"/bookings/{booking_id}/service-record", lg.headers["op1"], {
        "actual_start": "2026-12-02T10:00:00+08:00", "actual_end": "2026-12-02T11:31:00+08:00", "samples": None,
        "result_delivered_on": "2026-12-02"}), 201)
    assert set(body) >= RECORD_KEYS | {"balance", "fee_basis", "actual_start", "start_local_date"}
    assert (body["booking_id"], body["organization_id"], body["mode"], body["effective_minutes"], body["external"],
            body["fee_fen"]) == (booking_id, lg.alice.org.id, "machine_time", 91, True, 75_833)
    assert body["balance"] == {"charged_fen": 75_833, "debit_fen": 0, "credit_fen": 0, "paid_fen": 0,
                               "refunded_fen": 0, "owed_fen": 75_833}
    assert body["actual_start"] == "2026-12-02T10:00:00+08:00" and body["result_delivered_on"] == "2026-12-02"
    assert db.session.get(RevenueEntry, body["charge_entry_id"]).amount_fen == 75_833
    assert expect(api(client, "GET", f"/bookings/{booking_id}", lg.alice.headers), 200)["status"] == "completed"
    again = api(client, "POST", f"/bookings/{booking_id}/service-record", lg.headers["op1"], {
        "actual_start": "2026-12-02T10:00:00+08:00", "actual_end": "2026-12-02T11:31:00+08:00"})
    expect(again, 409, "invalid_state")


def test_booking_state_permissions_and_values_are_enforced(client, lg):
    order = sample_order(client, lg, confirm=False)
    times = {"actual_start": at(-1, "09:00").isoformat(), "actual_end": at(-1, "09:40").isoformat()}
    path = f"/bookings/{order}/service-record"
    expect(api(client, "POST", path, lg.headers["op1"], times), 409, "invalid_state")
    expect(api(client, "POST", path, lg.headers["bob"], times), 404, "not_found")
    expect(api(client, "POST", path, lg.headers["alice"], times), 403)
    body = expect(api(client, "POST", path, lg.headers["op1"], {"actual_start": "2026-12-01 09:00",
                                                                 "actual_end": times["actual_end"]}), 422)
    assert "actual_start" in body["fields"]
    assert "samples" in expect(api(client, "POST", path, lg.headers["op1"], times | {"samples": "3"}), 422)["fields"]
    assert "actual_end" in expect(api(client, "POST", path, lg.headers["op1"], {"actual_start": times["actual_start"]}),
                                  422)["fields"]
    expect(client.post(f"/api/v1{path}", headers=lg.headers["op1"], data="{nope", content_type="application/json"),
           400)
    confirmed = sample_order(client, lg, samples=2)
    body = expect(api(client, "POST", f"/bookings/{confirmed}/service-record", lg.headers["op1"], times), 201)
    assert (body["mode"], body["fee_fen"], body["effective_minutes"]) == ("sample_testing", 40_000, 40)


def test_standalone_records_and_their_refusals(client, lg):
    external = expect(new_record(client, lg), 201)
    assert (external["booking_id"], external["external"], external["fee_fen"]) == (None, True, 75_000)
    own = expect(new_record(client, lg, lg.unit.org.id, mode="sample_testing", samples=5), 201)
    assert (own["external"], own["fee_fen"], own["samples"]) == (False, 100_000, 5)
    other = make_ledger(lg.factory)
    assert "instrument_id" in expect(new_record(client, lg, instrument_id=other.instrument.id), 422)["fields"]
    assert "instrument_id" in expect(new_record(client, lg, instrument_id=987_654), 422)["fields"]
    assert "organization_id" in expect(new_record(client, lg, organization_id=987_654), 422)["fields"]
    assert "mode" in expect(new_record(client, lg, mode="teleport"), 422)["fields"]
    assert "actual_end" in expect(new_record(client, lg, actual_end=at(3, "10:00").isoformat()), 422)["fields"]
    assert "actual_start" in expect(new_record(client, lg, actual_start="0001-01-01T00:00:00+14:00"), 422)["fields"]
    assert "actual_end" in expect(new_record(client, lg, actual_end="9999-12-31T23:59:00-12:00"), 422)["fields"]
    body = {"instrument_id": lg.instrument.id, "organization_id": lg.alice.org.id, "mode": "machine_time",
            "actual_start": at(-1, "09:00").isoformat(), "actual_end": at(-1, "10:00").isoformat()}
    expect(api(client, "POST", "/service-records", lg.headers["alice"], body), 403)
    expect(api(client, "POST", "/service-records", {}, body), 401)


def test_who_reads_which_records(client, lg):
    mine = expect(new_record(client, lg), 201)["id"]
    bobs = expect(new_record(client, lg, lg.bob.org.id), 201)["id"]
    own = expect(new_record(client, lg, lg.unit.org.id), 201)["id"]

    def ids(who, query=""):
        body = expect(api(client, "GET", f"/service-records{query}", lg.headers[who]), 200)
        assert set(body) == {"items", "page", "per_page", "total"}
        return sorted(item["id"] for item in body["items"])

    assert ids("alice") == [mine] and ids("bob") == [bobs]
    assert ids("op1") == sorted([mine, bobs, own]) == ids("commission")
    assert ids("op1", f"?organization_id={lg.alice.org.id}") == [mine]
    assert ids("op1", f"?instrument_id={lg.instrument.id}&unit_id={lg.unit.org.id}") == sorted([mine, bobs, own])
    assert ids("op1", "?from=2026-11-30&to=2026-11-30") == sorted([mine, bobs, own])
    assert ids("op1", "?from=2026-12-01") == [] and ids("alice", "?unit_id=1&organization_id=999999") == []
    assert "from" in expect(api(client, "GET", "/service-records?from=30.11.2026", lg.headers["op1"]), 422)["fields"]
    paged = expect(api(client, "GET", "/service-records?per_page=2&page=2", lg.headers["op1"]), 200)
    assert (paged["total"], len(paged["items"]), paged["page"], paged["per_page"]) == (3, 1, 2, 2)
    detail = expect(api(client, "GET", f"/service-records/{mine}", lg.headers["alice"]), 200)
    assert set(detail["balance"]) == BALANCE_KEYS and detail["fee_basis"].startswith("¥500.00/小时 × 90分钟")
    expect(api(client, "GET", f"/service-records/{mine}", lg.headers["bob"]), 404, "not_found")
    expect(api(client, "GET", f"/service-records/{mine}", lg.headers["commission"]), 200)
    expect(api(client, "GET", f"/service-records/{mine}"), 401)
    outsider = lg.factory.user(lg.unit.org, ("sme_user",))  # a user of the unit who is not an operator
    outsider_headers = lg.factory.bearer(outsider)
    expect(api(client, "GET", f"/service-records/{mine}", outsider_headers), 404)
    assert sorted(i["id"] for i in expect(api(client, "GET", "/service-records", outsider_headers), 200)["items"]) \
        == [own]


# ------------------------------------------------------------------------------------------------ ledger


def test_entries_are_appended_and_listed_for_their_readers(client, lg):
    record = expect(new_record(client, lg), 201)
    payment = expect(entry(client, lg, record["id"], amount=50_000, invoice_no="FP-1", payment_ref="BANK-9"), 201)
    assert set(payment) >= ENTRY_KEYS
    assert (payment["kind"], payment["amount_fen"], payment["direction"], payment["entered_by_id"]) == (
        "payment", 50_000, None, lg.op1.id)
    refund = expect(entry(client, lg, record["id"], "refund", 10_000, reason="partial"), 201)
    assert refund["kind"] == "refund"
    over = expect(entry(client, lg, record["id"], "refund", 40_001), 409, "refund_exceeds_payments")
    assert "amount_fen" in over["fields"] and over["refundable_fen"] == 40_000
    duplicate = expect(entry(client, lg, record["id"], amount=1, invoice_no="FP-1"), 409, "duplicate_invoice_no")
    assert "invoice_no" in duplicate["fields"]
    for bad, field in [({"amount": 0}, "amount_fen"), ({"amount": -1}, "amount_fen"), ({"amount": 1.5}, "amount_fen"),
                       ({"kind": "gift"}, "kind"), ({"entry_date": "2026-13-01"}, "entry_date"),
                       ({"kind": "adjustment", "reason": "x"}, "direction"), ({"direction": "credit"}, "direction")]:
        values = {"kind": bad.pop("kind", "payment"), "amount": bad.pop("amount", 100)} | bad
        body = expect(entry(client, lg, record["id"], **values), 422)
        assert field in body["fields"], (values, body)
    expect(entry(client, lg, record["id"], who="alice"), 403)
    assert "service_record_id" in expect(entry(client, lg, record["id"], who="bob"), 422)["fields"]
    detail = expect(api(client, "GET", f"/service-records/{record['id']}", lg.headers["alice"]), 200)
    assert detail["balance"] == {"charged_fen": 75_000, "debit_fen": 0, "credit_fen": 0, "paid_fen": 50_000,
                                 "refunded_fen": 10_000, "owed_fen": 35_000}
    listed = expect(api(client, "GET", f"/revenue-entries?service_record_id={record['id']}", lg.headers["alice"]), 200)
    assert [e["kind"] for e in listed["items"]] == ["charge", "payment", "refund"] and listed["total"] == 3
    assert expect(api(client, "GET", "/revenue-entries", lg.headers["bob"]), 200)["total"] == 0
    assert expect(api(client, "GET", f"/revenue-entries?unit_id={lg.unit.org.id}&kind=payment",
                      lg.headers["commission"]), 200)["total"] == 1


def test_a_large_adjustment_is_a_request_until_a_second_operator_approves(client, lg):
    record = expect(new_record(client, lg), 201)
    count = entry_count()
    response = entry(client, lg, record["id"], "adjustment", 100_001, direction="credit", reason="goodwill")
    request = expect(response, 201)
    assert response.headers["Location"] == f"/api/v1/adjustment-requests/{request['id']}"
    assert (request["status"], request["object"], request["amount_fen"]) == ("pending_approval", "adjustment_request",
                                                                             100_001)
    assert entry_count() == count
    path = f"/adjustment-requests/{request['id']}"
    assert expect(api(client, "GET", path, lg.headers["op2"]), 200)["status"] == "pending_approval"
    expect(api(client, "GET", path, lg.headers["bob"]), 404)
    expect(api(client, "POST", path + "/approve", lg.headers["op1"]), 409, "second_operator_required")
    expect(api(client, "POST", path + "/approve", lg.headers["alice"]), 403)
    expect(api(client, "POST", path + "/approve", lg.headers["bob"]), 404)
    assert entry_count() == count
    approved = expect(api(client, "POST", path + "/approve", lg.headers["op2"]), 200)
    assert approved["status"] == "approved" and approved["decided_by_id"] == lg.op2.id and approved["entry_id"]
    expect(api(client, "POST", path + "/approve", lg.headers["op2"]), 409, "invalid_state")
    balance = expect(api(client, "GET", f"/service-records/{record['id']}", lg.headers["op1"]), 200)["balance"]
    assert (balance["credit_fen"], balance["owed_fen"]) == (100_001, 75_000 - 100_001)

    second = expect(entry(client, lg, record["id"], "adjustment", 300_000, direction="debit", reason="r"), 201)
    rejected_path = f"/adjustment-requests/{second['id']}/reject"
    assert "reason" in expect(api(client, "POST", rejected_path, lg.headers["op2"], {}), 422)["fields"]
    rejected = expect(api(client, "POST", rejected_path, lg.headers["op2"], {"reason": "not agreed"}), 200)
    assert (rejected["status"], rejected["decision_reason"], rejected["entry_id"]) == ("rejected", "not agreed", None)
    assert entry_count() == count + 1


# ------------------------------------------------------------------------------------------------ ratings, disputes


def test_rating_and_disputes_through_the_api(client, lg):
    record = expect(new_record(client, lg), 201)["id"]
    rating = expect(api(client, "POST", f"/service-records/{record}/rating", lg.headers["alice"],
                        {"score": 5, "comment": "快"}), 201)
    assert (rating["score"], rating["comment"]) == (5, "快")
    expect(api(client, "POST", f"/service-records/{record}/rating", lg.headers["alice"], {"score": 4}), 409,
           "already_rated")
    expect(api(client, "POST", f"/service-records/{record}/rating", lg.headers["bob"], {"score": 4}), 404)
    other = expect(new_record(client, lg), 201)["id"]
    assert "score" in expect(api(client, "POST", f"/service-records/{other}/rating", lg.headers["alice"],
                                 {"score": 6}), 422)["fields"]
    expect(api(client, "POST", f"/service-records/{other}/rating", lg.headers["op1"], {"score": 5}), 403)

    dispute = expect(api(client, "POST", f"/service-records/{record}/dispute", lg.headers["alice"],
                         {"reason": "只用了60分钟"}), 201)
    assert dispute["answer"] is None
    expect(api(client, "POST", f"/service-records/{record}/dispute", lg.headers["alice"], {"reason": "again"}), 409,
           "dispute_open")
    expect(api(client, "POST", f"/service-records/{record}/dispute/answer", lg.headers["alice"], {"answer": "x"}), 403)
    answered = expect(api(client, "POST", f"/service-records/{record}/dispute/answer", lg.headers["op1"],
                          {"answer": "核对记录：90分钟"}), 200)
    assert answered["answer"] == "核对记录：90分钟" and answered["answered_by_id"] == lg.op1.id
    detail = expect(api(client, "GET", f"/service-records/{record}", lg.headers["alice"]), 200)
    assert detail["rating"] == {"score": 5, "comment": "快"} and len(detail["disputes"]) == 1
    lg.headers["clock"].move(days=16)
    expect(api(client, "POST", f"/service-records/{record}/dispute", lg.headers["alice"], {"reason": "late"}), 409,
           "dispute_period_over")


def test_records_made_by_services_show_in_the_api(client, lg):
    record = standalone(lg)
    body = expect(api(client, "GET", f"/service-records/{record.id}", lg.headers["op2"]), 200)
    assert body["charge_entry_id"] is not None and body["balance"]["owed_fen"] == record.fee_fen


# ------------------------------------------------------------------------------------------------ concurrency


def fire_at_once(app, calls: list[tuple[dict, dict]]) -> list[tuple[int, dict]]:
    """POST /revenue-entries from as many threads at the same moment, each with its own client and session."""
    import threading

    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def go(i, headers, body):
        client = app.test_client()
        barrier.wait(30)
        response = client.post("/api/v1/revenue-entries", headers=headers, json=body)
        results[i] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=go, args=(i, h, b)) for i, (h, b) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_refunds_never_exceed_the_payments(app, client, lg):
    record = expect(new_record(client, lg), 201)
    expect(entry(client, lg, record["id"], amount=10_000), 201)
    body = {"service_record_id": record["id"], "kind": "refund", "amount_fen": 3_000, "entry_date": DAY0.isoformat()}
    results = fire_at_once(app, [(lg.headers["op1"], body)] * 8)
    assert sorted(status for status, _ in results) == [201] * 3 + [409] * 5, results
    assert all(b["error"] == "refund_exceeds_payments" for status, b in results if status == 409)
    balance = expect(api(client, "GET", f"/service-records/{record['id']}", lg.headers["op1"]), 200)["balance"]
    assert (balance["paid_fen"], balance["refunded_fen"]) == (10_000, 9_000)


def test_concurrent_entries_with_one_invoice_number_make_one_entry(app, client, lg):
    record = expect(new_record(client, lg), 201)
    body = {"service_record_id": record["id"], "kind": "payment", "amount_fen": 100, "entry_date": DAY0.isoformat(),
            "invoice_no": "FP-RACE"}
    results = fire_at_once(app, [(lg.headers["op1"], body), (lg.headers["op2"], body)] * 3)
    assert sorted(status for status, _ in results) == [201] + [409] * 5, results
    assert all(b["error"] == "duplicate_invoice_no" for status, b in results if status == 409)
