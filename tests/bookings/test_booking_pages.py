"""Booking pages with the test client: the week calendar, the rules and terms shown up front, the booking forms
with each refusal next to its field, double submission, the operators' queue and the actions on a booking."""

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import delete

from instrument_share.bookings import contracts, lifecycle
from instrument_share.bookings.models import OrganizationBlock
from instrument_share.db import db

from .. import catalogue_support as cs
from .._booking_pages import (
    book,
    booking_count,
    booking_form,
    civilian_setup,
    clear,
    confirm,
    field_error,
    fresh,
    other_booker,
    post_booking,
    set_rules,
    zh,
)
from .._pages import created_id, sign_in, submit, text


def cell(html: str, day: str, time: str) -> str:
    match = re.search(rf'data-day="{day}" data-time="{time}" data-state="(\w+)"', html)
    assert match, (day, time)
    return match.group(1)


def test_week_calendar_shows_free_and_taken_time_without_identity(client, factory, frozen_clock):
    s = civilian_setup(factory)
    hidden_user = other_booker(factory, "隐秘科技有限公司", "hidden_booker")
    book(hidden_user, s.instrument, "2026-12-03", "09:00", "11:00")
    sign_in(client, factory, s.booker)
    response = client.get(f"/instruments/{s.instrument.id}/book?week=2026-12-03")
    html = text(response)
    assert response.status_code == 200
    assert "2026-11-30" in html  # the week runs Monday to Sunday
    assert cell(html, "2026-12-03", "09:00") == cell(html, "2026-12-03", "10:30") == "busy"
    assert cell(html, "2026-12-03", "11:00") == cell(html, "2026-12-04", "08:00") == "free"
    assert cell(html, "2026-12-01", "14:00") == "closed"  # within the minimum notice
    assert cell(html, "2026-12-05", "10:00") == "closed"  # Saturday: not open
    assert zh("Taken") in html and "11:00–18:00" in html
    assert "隐秘科技有限公司" not in html and "hidden_booker" not in html
    assert 'week=2026-11-23' in html and 'week=2026-12-07' in html
    # The rules, the fees with the quote rule and the unit's contract terms come before the form.
    for shown in ("08:00–18:00", "30", "480", "24", "90", "¥500.00", "¥200.00", "报价",
                  contracts.DEFAULT_TERMS["dispute_terms"]):
        assert shown in html, shown
    assert html.index("contract-terms") < html.index('name="time-nonce"')

    anonymous = factory.app.test_client()
    page = text(anonymous.get(f"/instruments/{s.instrument.id}/book?week=2026-12-03"))
    assert cell(page, "2026-12-03", "09:00") == "busy" and 'name="time-nonce"' not in page
    assert "/login" in page
    assert client.get(f"/instruments/{s.instrument.id}/book?week=garbage").status_code == 200
    assert client.get("/instruments/999999/book").status_code == 404
    assert f"/instruments/{s.instrument.id}/book" in text(client.get(f"/instruments/{s.instrument.id}"))


def test_booking_form_happy_paths(client, factory, frozen_clock):
    s = civilian_setup(factory)
    sign_in(client, factory, s.booker)
    response, _form = post_booking(client, s.instrument.id, mode="machine_time", date="2026-12-03", start="09:00",
                                   end="11:00")
    booking = fresh(created_id(response))
    assert response.location == f"/bookings/{booking.id}"
    assert (booking.status, booking.quote_fen, booking.user_id) == ("pending", 100000, s.booker.id)
    assert contracts.contract_of(booking).user_accepted_at is not None
    detail = text(client.get(response.location))
    assert "待确认" in detail and "¥1,000.00" in detail

    response, _form = post_booking(client, s.instrument.id, "sample", mode="sample_testing", samples="3",
                                   wanted_by="2026-12-20")
    order = fresh(created_id(response))
    assert (order.mode, order.samples, order.wanted_by.isoformat(), order.quote_fen) == (
        "sample_testing", 3, "2026-12-20", 60000)


REFUSALS = [  # (form values, field, the message next to the field: msgid and values, or words it contains)
    ({"date": "2026-12-03", "start": "09:00", "end": "09:20"}, "end",
     ("Too short: at least %(n)d minutes (rule: minimum length).", {"n": 30})),
    ({"date": "2026-12-03", "start": "08:00", "end": "17:00"}, "end",
     ("Too long: at most %(n)d minutes (rule: maximum length).", {"n": 480})),
    ({"date": "2026-12-03", "start": "09:10", "end": "10:10"}, "start",
     ("Start and length go in steps of %(n)d minutes (rule: time step).", {"n": 30})),
    ({"date": "2026-12-01", "start": "14:00", "end": "15:00"}, "start",
     ("Too soon: book at least %(n)d hours ahead (rule: minimum notice).", {"n": 24})),
    ({"date": "2027-06-01", "start": "09:00", "end": "10:00"}, "date",
     ("Too far ahead: at most %(n)d days (rule: booking horizon).", {"n": 90})),
    ({"date": "2026-12-05", "start": "09:00", "end": "10:00"}, "start",
     ("Outside the opening hours (rule: opening hours).", {})),
    ({"date": "2026-12-04", "start": "09:00", "end": "10:00"}, "date",
     ("Closed then: %(reason)s (rule: blackout).", {"reason": "设备年检"})),
    ({"date": "2026-12-03", "start": "13:00", "end": "16:00"}, "end",
     ("Your organisation's quota of %(n)d future hours would be exceeded (rule: quota).", {"n": 2})),
    ({"date": "2026-12-03", "start": "09:30", "end": "10:30"}, "start", ["2026-12-03 09:00", "2026-12-03 11:00"]),
    ({"date": "2026-12-03", "start": "14:00", "end": "15:00", "mode": "experiment"}, "mode",
     ("This instrument does not offer this service mode.", {})),
    ({"date": "2026-12-03", "start": "15:00", "end": "14:00"}, "end", ("The end must be after the start.", {})),
    ({"date": "2026-13-45", "start": "25:00", "end": "x"}, "date", [""]),
]


@pytest.mark.parametrize(("values", "field", "expected"), REFUSALS)
def test_each_refusal_is_shown_next_to_its_field(client, factory, frozen_clock, values, field, expected):
    s = civilian_setup(factory)
    set_rules(s.unit.operator, s.instrument, quota_hours_per_org=2, blackouts=[
        {"start": "2026-12-04T00:00:00+08:00", "end": "2026-12-05T00:00:00+08:00", "reason": "设备年检"}])
    book(other_booker(factory), s.instrument, "2026-12-03", "09:00", "11:00")
    sign_in(client, factory, s.booker)
    before = booking_count()
    response, form = post_booking(client, s.instrument.id, **({"mode": "machine_time"} | values))
    html = text(response)
    assert response.status_code in (409, 422), response.status_code
    message = unescape(field_error(html, f"time-{field}"))
    assert message, html[html.find("<form"):][:2000]
    words = [zh(expected[0], **expected[1])] if isinstance(expected, tuple) else expected
    for word in words:
        assert word in message, (word, message)
    assert booking_count() == before
    assert form["time-nonce"] not in html  # the form comes back with a fresh nonce, ready to be corrected


def test_sample_order_refusals_blocked_organisation_and_defence_listing_not_cleared(client, factory, frozen_clock):
    s = civilian_setup(factory)
    sign_in(client, factory, s.booker)
    stale_form = booking_form(client, s.instrument.id, "sample", mode="sample_testing", samples="1",
                              wanted_by="2026-12-20")
    with db.transaction():
        db.session.add(OrganizationBlock(organization_id=s.booker_org.id, unit_id=s.unit.org.id, violations=4,
                                         until=frozen_clock.now + timedelta(days=90)))
    page = text(client.get(f"/instruments/{s.instrument.id}/book"))
    assert "data-barrier" in page and "2027-03-01" in page and 'name="sample-nonce"' not in page
    refused = client.post(f"/instruments/{s.instrument.id}/book/samples", data=stale_form)
    assert refused.status_code == 403 and "flash-error" in text(refused) and booking_count() == 0
    with db.transaction():
        db.session.execute(delete(OrganizationBlock))
    response, _ = post_booking(client, s.instrument.id, "sample", mode="sample_testing", samples="0",
                               wanted_by="2026-12-20")
    assert response.status_code == 422 and field_error(text(response), "sample-samples")
    response, _ = post_booking(client, s.instrument.id, "sample", mode="sample_testing", samples="2",
                               wanted_by="2026-11-20")
    assert response.status_code == 422 and zh("in the past") in field_error(text(response), "sample-wanted_by")
    assert booking_count() == 0

    unit = cs.defence_unit(factory, with_headers=False)
    listing = cs.publish_defence(unit, {"name_zh": "registered", "service_modes": "cleared"})
    page = client.get(f"/instruments/{listing.id}/book")
    assert page.status_code == 403 and "not_cleared" in text(page) and 'name="time-nonce"' not in text(page)
    assert f"/instruments/{listing.id}/book" not in text(client.get(f"/instruments/{listing.id}"))
    clear(unit, s.booker_org)
    page = client.get(f"/instruments/{listing.id}/book")
    assert page.status_code == 200 and 'name="time-nonce"' in text(page)


def test_a_double_submission_creates_one_booking(client, factory, frozen_clock):
    s = civilian_setup(factory)
    sign_in(client, factory, s.booker)
    form = booking_form(client, s.instrument.id, mode="machine_time", date="2026-12-03", start="09:00", end="10:00")
    path = f"/instruments/{s.instrument.id}/book/time"
    first = client.post(path, data=form)
    again = client.post(path, data=form)
    assert first.status_code == again.status_code == 302 and first.location == again.location
    assert booking_count() == 1
    changed = client.post(path, data=form | {"time-start": "14:00", "time-end": "15:00"})
    assert changed.status_code == 422 and booking_count() == 1
    assert zh("This form was already submitted with other values; check your bookings before sending the new "
              "form below.") in unescape(text(changed))


def test_operator_queue_confirm_and_reject_with_reason(client, factory, frozen_clock):
    s = civilian_setup(factory)
    first = book(s.booker, s.instrument, "2026-12-03", "09:00", "10:00")
    second = book(s.booker, s.instrument, "2026-12-03", "13:00", "14:00")
    assert factory.app.test_client().get("/bookings/queue").status_code == 302  # sign in first
    booker_client = factory.app.test_client()
    sign_in(booker_client, factory, s.booker)
    assert booker_client.get("/bookings/queue").status_code == 403
    assert submit(booker_client, f"/bookings/{first.id}/confirm", page="/bookings").status_code == 403

    sign_in(client, factory, s.unit.operator)
    queue = text(client.get("/bookings/queue"))
    assert f'data-booking="{first.id}"' in queue and f'data-booking="{second.id}"' in queue
    assert "预约企业乙" in queue  # the unit sees who asked
    response = submit(client, f"/bookings/{first.id}/confirm", {"next": "/bookings/queue"}, page="/bookings/queue")
    assert response.status_code == 302 and response.location == "/bookings/queue"
    confirmed = fresh(first.id)
    assert confirmed.status == "confirmed" and confirmed.contract_no
    contract_page = client.get(f"/bookings/{first.id}/contract")
    assert contract_page.status_code == 200 and confirmed.contract_no in text(contract_page)
    assert booker_client.get(f"/bookings/{first.id}/contract").status_code == 200

    empty = submit(client, f"/bookings/{second.id}/reject", {"reject-reason": " "}, page="/bookings/queue")
    assert empty.status_code == 422 and field_error(text(empty), "reject-reason")
    assert fresh(second.id).status == "pending"
    response = submit(client, f"/bookings/{second.id}/reject", {"reject-reason": "当日设备校准"},
                      page="/bookings/queue")
    assert response.status_code == 302
    assert (fresh(second.id).status, fresh(second.id).reason) == ("rejected", "当日设备校准")
    assert f'data-booking="{second.id}"' not in text(client.get("/bookings/queue"))
    mine = text(booker_client.get("/bookings?status=rejected"))
    assert f'data-booking="{second.id}"' in mine and f'data-booking="{first.id}"' not in mine
    outsider = factory.app.test_client()
    sign_in(outsider, factory, other_booker(factory))
    assert outsider.get(f"/bookings/{first.id}").status_code == 404


def test_cancel_warns_before_a_late_cancellation(client, factory, frozen_clock):
    s = civilian_setup(factory)
    early = book(s.booker, s.instrument, "2026-12-10", "09:00", "10:00")
    late = book(s.booker, s.instrument, "2026-12-03", "09:00", "10:00")
    confirm(s.unit.operator, early)
    confirm(s.unit.operator, late)
    sign_in(client, factory, s.booker)
    response = submit(client, f"/bookings/{early.id}/cancel", {"cancel-reason": "计划变更"}, page="/bookings")
    assert response.status_code == 302
    assert (fresh(early.id).status, fresh(early.id).late_cancellation) == ("cancelled", False)

    frozen_clock.move(hours=30)  # now 17 hours before the start: within the 24-hour cancellation notice
    page = text(client.get(f"/bookings/{late.id}"))
    assert "late-warning" in page
    warned = submit(client, f"/bookings/{late.id}/cancel", {"cancel-reason": "临时出差"}, page="/bookings")
    assert warned.status_code == 409 and 'name="cancel-confirm_late" value="1"' in text(warned)
    assert fresh(late.id).status == "confirmed"
    response = submit(client, f"/bookings/{late.id}/cancel", {"cancel-reason": "临时出差", "cancel-confirm_late": "1"},
                      page="/bookings")
    assert response.status_code == 302
    assert (fresh(late.id).status, fresh(late.id).late_cancellation) == ("cancelled", True)


def test_operator_records_arrival_and_corrects_a_no_show(client, factory, frozen_clock):
    s = civilian_setup(factory)
    arrived = book(s.booker, s.instrument, "2026-12-03", "09:00", "10:00")
    missed = book(s.booker, s.instrument, "2026-12-03", "13:00", "14:00")
    confirm(s.unit.operator, arrived)
    confirm(s.unit.operator, missed)
    frozen_clock.move(hours=47)  # Thursday 09:00 local
    sign_in(client, factory, s.unit.operator)
    assert submit(client, f"/bookings/{arrived.id}/start", page=f"/bookings/{arrived.id}").status_code == 302
    assert fresh(arrived.id).status == "in_progress"
    assert submit(client, f"/bookings/{arrived.id}/start", page="/bookings").status_code == 409

    frozen_clock.move(hours=6)
    assert lifecycle.mark_no_shows() == 1 and fresh(missed.id).status == "no_show"
    page = text(client.get(f"/bookings/{missed.id}"))
    assert "/complete-no-show" in page
    empty = submit(client, f"/bookings/{missed.id}/complete-no-show", {"noshow-reason": ""}, page="/bookings")
    assert empty.status_code == 422 and field_error(text(empty), "noshow-reason")
    response = submit(client, f"/bookings/{missed.id}/complete-no-show", {"noshow-reason": "用户迟到但已完成测试"},
                      page="/bookings")
    assert response.status_code == 302 and fresh(missed.id).status == "in_progress"
