"""Ledger pages with the test client: recording a service from a booking and stand-alone, the record with its fee
rule, ledger, balance, entry form, adjustment requests for a second operator, disputes and the rating; the lists for
the provider and the user organisation with owed totals; CSRF on every form and refusals next to their fields."""

import re

import pytest

from instrument_share.bookings.models import Booking
from instrument_share.db import db
from instrument_share.ledger import entries
from instrument_share.ledger.models import AdjustmentRequest, ServiceRating, ServiceRecord

from .._pages import field_errors, sign_in, text
from ..factories import csrf_from, english
from ..ledger_support import append, audit_of, booking_in_progress, make_ledger, standalone


@pytest.fixture
def lg(frozen_clock, factory):
    ledger = make_ledger(factory)
    ledger.headers["clock"] = frozen_clock
    return ledger


def as_(client, factory, user):
    """A fresh browser signed in as `user`, showing English."""
    fresh = client.application.test_client()
    sign_in(fresh, factory, user)
    english(fresh)
    return fresh


def post(client, path: str, data: dict, *, page: str, prefix: str = ""):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data=data | {f"{prefix}-csrf_token" if prefix else "csrf_token": token})


def test_an_operator_records_a_booking_and_takes_payment(client, factory, lg):
    booking_id = booking_in_progress(client, lg, lg.headers["clock"])
    client = as_(client, factory, lg.op1)
    booking_page = text(client.get(f"/bookings/{booking_id}"))
    assert f"/bookings/{booking_id}/service-record" in booking_page
    form_path = f"/bookings/{booking_id}/service-record"
    form = text(client.get(form_path))
    assert 'value="2026-12-02"' in form and 'value="10:00"' in form and 'value="11:30"' in form  # from the booking
    times = {"start_date": "2026-12-02", "start_time": "10:00", "end_date": "2026-12-02", "end_time": "11:30",
             "samples": "", "result_delivered_on": ""}
    assert client.post(form_path, data=times).status_code == 400  # no CSRF token
    bad = post(client, form_path, times | {"end_time": "25:00"}, page=form_path)
    assert bad.status_code == 422 and field_errors(text(bad))
    future = post(client, form_path, times | {"end_date": "2026-12-09"}, page=form_path)
    assert future.status_code == 422 and "not in the future" in text(future)
    done = post(client, form_path, times, page=form_path)
    assert done.status_code == 302
    record_id = int(re.search(r"/service-records/(\d+)", done.location).group(1))
    db.session.rollback()
    assert db.session.get(Booking, booking_id).status == "completed"
    page = text(client.get(done.location))
    assert "¥500.00/小时 × 90分钟 ÷ 60 = ¥750.00" in page and 'class="owed">¥750.00' in page
    assert client.get(form_path).location.endswith(f"/service-records/{record_id}")  # recorded once; shows it

    entry_path = f"/service-records/{record_id}/entries"
    paid = post(client, entry_path, {"entry-kind": "payment", "entry-amount": "300.50",
                                     "entry-entry_date": "2026-12-02", "entry-invoice_no": "FP-77",
                                     "entry-direction": ""}, page=done.location, prefix="entry")
    assert paid.status_code == 302
    assert entries.balance(record_id).paid_fen == 30_050
    over = post(client, entry_path, {"entry-kind": "refund", "entry-amount": "300.51", "entry-entry_date": "2026-12-02",
                                     "entry-direction": ""}, page=done.location, prefix="entry")
    assert over.status_code == 409 and field_errors(text(over))
    typo = post(client, entry_path, {"entry-kind": "payment", "entry-amount": "1.234", "entry-entry_date": "2026-12-02",
                                     "entry-direction": ""}, page=done.location, prefix="entry")
    assert typo.status_code == 422 and field_errors(text(typo))
    assert 'class="owed">¥449.50' in text(client.get(done.location))


def test_a_large_adjustment_waits_for_the_second_operator_on_the_page(client, factory, lg):
    record = standalone(lg)
    request = append(lg, record, "adjustment", 150_000, direction="credit", reason="goodwill")
    client = as_(client, factory, lg.op1)
    page = text(client.get(f"/service-records/{record.id}"))
    assert "Another operator of your unit approves this request." in page
    assert f"/adjustment-requests/{request.id}/approve" not in page
    refused = post(client, f"/adjustment-requests/{request.id}/approve", {}, page=f"/service-records/{record.id}")
    assert refused.status_code == 409
    client = as_(client, factory, lg.op2)
    page = text(client.get(f"/service-records/{record.id}"))
    assert f"/adjustment-requests/{request.id}/approve" in page
    assert post(client, f"/adjustment-requests/{request.id}/approve", {},
                page=f"/service-records/{record.id}").status_code == 302
    db.session.rollback()
    assert db.session.get(AdjustmentRequest, request.id).status == "approved"
    assert entries.balance(record.id).credit_fen == 150_000
    second = append(lg, record, "adjustment", 150_000, direction="debit", reason="again")
    empty = post(client, f"/adjustment-requests/{second.id}/reject", {"reject-reason": ""},
                 page=f"/service-records/{record.id}", prefix="reject")
    assert empty.status_code == 422 and field_errors(text(empty))
    assert post(client, f"/adjustment-requests/{second.id}/reject", {"reject-reason": "no"},
                page=f"/service-records/{record.id}", prefix="reject").status_code == 302
    assert audit_of("adjustment_request", second.id) == ["revenue.adjustment_requested",
                                                         "revenue.adjustment_rejected"]


def test_the_user_organisation_sees_owed_disputes_and_rates(client, factory, lg):
    record = standalone(lg)
    append(lg, record, "payment", 25_000)
    standalone(lg, lg.bob.org)
    client = as_(client, factory, lg.alice.user)
    listing = text(client.get("/service-records"))
    assert listing.count("data-record=") == 1 and 'class="owed-total">¥500.00' in listing
    page_path = f"/service-records/{record.id}"
    page = text(client.get(page_path))
    assert "Add a payment" not in page and "Dispute the record" in page and "Rate the service" in page
    assert post(client, f"/service-records/{record.id}/dispute", {"dispute-reason": "  "}, page=page_path,
                prefix="dispute").status_code == 422
    assert post(client, f"/service-records/{record.id}/dispute", {"dispute-reason": "60 minutes only"},
                page=page_path, prefix="dispute").status_code == 302
    assert post(client, f"/service-records/{record.id}/rating", {"rating-score": "4", "rating-comment": "good"},
                page=page_path, prefix="rating").status_code == 302
    db.session.rollback()
    assert db.session.query(ServiceRating).one().score == 4
    page = text(client.get(page_path))
    assert "Rate the service" not in page and "4 of 5" in page and "Waiting for the answer of the unit." in page
    instrument_page = text(client.get(f"/instruments/{lg.instrument.id}"))
    assert "4.00 of 5 from 1 ratings" in instrument_page and "the unit: 4.00 of 5" in instrument_page
    assert client.get("/service-records/new").status_code == 403

    client = as_(client, factory, lg.op1)
    assert post(client, f"/service-records/{record.id}/dispute/answer", {"answer-answer": "checked"},
                page=page_path, prefix="answer").status_code == 302
    assert "checked" in text(client.get(page_path))

    client = as_(client, factory, lg.bob.user)
    assert client.get(page_path).status_code == 404
    assert post(client, f"/service-records/{record.id}/rating", {"rating-score": "1"}, page="/service-records",
                prefix="rating").status_code == 404


def test_a_standalone_service_is_recorded_from_its_form(client, factory, lg):
    client = as_(client, factory, lg.op1)
    fields = {"instrument_id": str(lg.instrument.id), "organization_uscc": lg.alice.org.uscc, "mode": "sample_testing",
              "start_date": "2026-11-30", "start_time": "09:00", "end_date": "2026-11-30", "end_time": "09:45",
              "samples": "3", "result_delivered_on": "2026-12-01"}
    no_samples = post(client, "/service-records/new", fields | {"samples": ""}, page="/service-records/new")
    assert no_samples.status_code == 422 and field_errors(text(no_samples))
    unknown = post(client, "/service-records/new", fields | {"organization_uscc": "91320100MA00000000"},
                   page="/service-records/new")
    assert unknown.status_code == 422 and "No organisation with this code" in text(unknown)
    assert post(client, "/service-records/new", fields, page="/service-records/new").status_code == 302
    own = post(client, "/service-records/new", fields | {"organization_uscc": "", "mode": "machine_time",
                                                         "samples": ""}, page="/service-records/new")
    assert own.status_code == 302
    db.session.rollback()
    records = db.session.query(ServiceRecord).order_by(ServiceRecord.id).all()
    assert [(r.organization_id, r.external, r.fee_fen) for r in records] == [
        (lg.alice.org.id, True, 60_000), (lg.unit.org.id, False, 37_500)]
    listing = text(client.get("/service-records?scope=unit"))
    assert listing.count("data-record=") == 2 and 'class="owed-total">¥975.00' in listing


def test_the_commission_reads_every_record_and_nobody_else_records(client, factory, lg):
    standalone(lg)
    standalone(lg, lg.bob.org)
    commission = as_(client, factory, lg.commission)
    assert text(commission.get("/service-records")).count("data-record=") == 2
    assert commission.get("/service-records/new").status_code == 403
    record = standalone(lg)
    assert commission.get(f"/service-records/{record.id}").status_code == 200
    assert "Add a payment" not in text(commission.get(f"/service-records/{record.id}"))
    assert client.get("/service-records").status_code == 302  # anonymous: sign in first
    booking_of_nobody = client.get("/bookings/987654/service-record")
    assert booking_of_nobody.status_code == 302
    operator = as_(client, factory, lg.op1)
    assert operator.get("/bookings/987654/service-record").status_code == 404
    assert operator.get("/service-records/987654").status_code == 404
