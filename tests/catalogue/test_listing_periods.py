"""Issue 13 (9), measure 19: the listing history (listing_periods) follows every change of a listing's status and
approval, the open-listing rule decides from it, and a service for another organisation (stand-alone or booked) is
recorded only when the instrument was open at its start; the unit's own use always is."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from instrument_share.bookings import service as bookings
from instrument_share.bookings.models import Booking
from instrument_share.catalogue import defence, listings
from instrument_share.catalogue.listing_periods import ListingFacts, closed_reason
from instrument_share.catalogue.models import Instrument, ListingPeriod
from instrument_share.db import db

from .._pages import field_errors, sign_in, text
from ..booking_support import DAY0, api, at, book, expect, iso
from ..catalogue_support import approve, civilian_unit, clear, create, defence_unit, open_since, review, submit
from ..factories import csrf_from, english
from ..ledger_support import make_ledger


def periods(instrument_id: int) -> list[tuple]:
    db.session.rollback()
    return [(p.opened_at, p.closed_at, p.valid_from, p.valid_until, p.source) for p in db.session.scalars(
        select(ListingPeriod).where(ListingPeriod.instrument_id == instrument_id).order_by(ListingPeriod.id))]


def act(fn, actor, instrument_id: int, **kwargs):
    with db.transaction():
        return fn(actor=db.session.merge(actor), instrument=db.session.get(Instrument, instrument_id), **kwargs)


# ------------------------------------------------------------------------------------------------ the history


def test_a_civilian_listing_is_open_from_publication_to_suspension_and_again_after_resuming(factory, frozen_clock):
    unit = civilian_unit(factory)
    instrument = create(unit)
    assert periods(instrument.id) == []
    published = frozen_clock.now
    act(listings.publish, unit.operator, instrument.id)
    suspended = frozen_clock.move(days=3)
    act(listings.suspend, unit.operator, instrument.id, reason="维修")
    resumed = frozen_clock.move(days=2)
    act(listings.resume, unit.operator, instrument.id)
    retired = frozen_clock.move(days=9)
    act(listings.retire, unit.operator, instrument.id)
    assert periods(instrument.id) == [(published, suspended, None, None, "recorded"),
                                      (resumed, retired, None, None, "recorded")]


def test_a_defence_listing_s_periods_carry_the_approval_valid_in_them(factory, frozen_clock):
    unit = defence_unit(factory)
    instrument = create(unit, service_modes=["machine_time"])
    submit(unit, instrument)
    review(unit, instrument, {"name_zh": "public"})
    approved = frozen_clock.now
    approve(unit, instrument, "科工批〔2026〕1号", valid_until=date(2027, 3, 31))
    assert periods(instrument.id) == [(approved, None, DAY0, date(2027, 3, 31), "recorded")]

    revised = frozen_clock.move(days=10)  # a revision approved with a new validity: a new period
    with db.transaction():
        listings.update_instrument(actor=db.session.merge(unit.operator),
                                   instrument=db.session.get(Instrument, instrument.id), values={"model": "SU9000"})
    submit(unit, db.session.get(Instrument, instrument.id))
    review(unit, db.session.get(Instrument, instrument.id), {"name_zh": "public"})
    approve(unit, db.session.get(Instrument, instrument.id), "科工批〔2026〕2号", valid_until=date(2027, 6, 30))
    revised_on = DAY0 + timedelta(days=10)
    assert periods(instrument.id)[1:] == [(revised, None, revised_on, date(2027, 6, 30), "recorded")]
    assert periods(instrument.id)[0][1] == revised

    expired = frozen_clock.move(days=220)  # 2027-07-19: the approval has ended and the daily job suspends
    with db.transaction():
        assert defence.expire_due() == 1
    renewed = frozen_clock.move(days=1)
    approve(unit, db.session.get(Instrument, instrument.id), "科工批〔2027〕3号", valid_until=date(2028, 7, 1))
    revoked = frozen_clock.move(days=5)
    act(defence.revoke, unit.approver, instrument.id, reason="保密要求变化")
    assert periods(instrument.id)[1:] == [
        (revised, expired, revised_on, date(2027, 6, 30), "recorded"),
        (renewed, revoked, date(2027, 7, 20), date(2028, 7, 1), "recorded")]


# ------------------------------------------------------------------------------------------------ the rule


def facts(**changes) -> ListingFacts:
    values = {"own_use": False, "is_defence": False, "published": True, "valid_from": None, "valid_until": None,
              "cleared": False, "day": date(2026, 12, 1)}
    return ListingFacts(**(values | changes))


DEFENCE = {"is_defence": True, "valid_from": date(2026, 1, 1), "valid_until": date(2026, 12, 1), "cleared": True}


@pytest.mark.parametrize(("changes", "reason"), [
    ({}, None),
    ({"published": False}, "not_published"),
    ({"published": False, "own_use": True}, None),  # the unit's own use, whatever the listing
    (DEFENCE, None),
    (DEFENCE | {"day": date(2026, 12, 2)}, "approval_not_valid"),  # the validity's last day is 1 December
    (DEFENCE | {"day": date(2025, 12, 31)}, "approval_not_valid"),
    (DEFENCE | {"valid_until": None}, "approval_not_valid"),
    (DEFENCE | {"cleared": False}, "not_cleared"),
    (DEFENCE | {"cleared": False, "published": False}, "not_published"),  # the first failing check
    (DEFENCE | {"cleared": False, "own_use": True}, None),
])
def test_the_rule(changes, reason):
    assert closed_reason(facts(**changes)) == reason


# ------------------------------------------------------------------------------------------------ service records


@pytest.fixture
def lg(frozen_clock, factory):
    ledger = make_ledger(factory)  # open since 1 November
    ledger.headers["clock"] = frozen_clock
    return ledger


def record(client, headers, instrument_id: int, org_id: int, start, minutes: int = 60):
    return api(client, "POST", "/service-records", headers, {
        "instrument_id": instrument_id, "organization_id": org_id, "mode": "machine_time",
        "actual_start": start.isoformat(), "actual_end": (start + timedelta(minutes=minutes)).isoformat()})


def test_a_service_for_another_organisation_needs_the_listing_open_at_its_start(client, lg):
    op = lg.headers["op1"]
    act(listings.suspend, lg.op1, lg.instrument.id, reason="维修")  # Tuesday 10:00
    expect(record(client, op, lg.instrument.id, lg.alice.org.id, at(-1, "09:00")), 201)  # it was open then
    lg.headers["clock"].move(days=1)
    refused = expect(record(client, op, lg.instrument.id, lg.alice.org.id, at(0, "11:00")), 409, "listing_not_open")
    assert refused["reason"] == "not_published" and "actual_start" in refused["fields"]
    assert "2026-12-01 11:00" in refused["message"]
    expect(record(client, op, lg.instrument.id, lg.alice.org.id, at(-40, "11:00")), 409, "listing_not_open")
    own = expect(record(client, op, lg.instrument.id, lg.unit.org.id, at(0, "11:00")), 201)  # the unit's own use
    assert own["external"] is False
    act(listings.resume, lg.op1, lg.instrument.id)  # Wednesday 10:00
    expect(record(client, op, lg.instrument.id, lg.alice.org.id, at(1, "09:00")), 409, "listing_not_open")
    lg.headers["clock"].move(hours=3)
    expect(record(client, op, lg.instrument.id, lg.alice.org.id, at(1, "11:00")), 201)


def test_a_defence_service_needs_an_approval_valid_that_day_and_a_cleared_organisation(client, factory, lg):
    unit = defence_unit(factory)
    instrument = create(unit, service_modes=["machine_time"])
    submit(unit, instrument)
    review(unit, instrument, {"name_zh": "public"})
    approve(unit, instrument, valid_until=DAY0 + timedelta(days=1))  # valid to Wednesday inclusive
    open_since(instrument, at(-30, "00:00"))
    op, alice = unit.h("operator"), lg.alice.org
    refused = expect(record(client, op, instrument.id, alice.id, at(-1, "09:00")), 409, "listing_not_open")
    assert refused["reason"] == "not_cleared"
    clear(unit, alice)
    expect(record(client, op, instrument.id, alice.id, at(-1, "09:00")), 201)
    lg.headers["clock"].move(days=3)  # Friday; the daily job has not suspended the listing yet
    expect(record(client, op, instrument.id, alice.id, at(1, "09:00")), 201)  # Wednesday: the last valid day
    refused = expect(record(client, op, instrument.id, alice.id, at(2, "09:00")), 409, "listing_not_open")
    assert refused["reason"] == "approval_not_valid"


def test_a_booked_service_after_the_listing_was_suspended_is_refused_with_a_clear_message(client, factory, lg):
    """Booked while open, confirmed, then the listing is suspended before the service: the rule holds for booked
    services too (docs/api.md v1.1 "booked or POST /service-records")."""
    body = expect(book(client, lg.alice.headers, lg.instrument.id, iso(1, "10:00"), iso(1, "11:30")), 201)
    with db.transaction():
        bookings.confirm(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, body["id"]))
    act(listings.suspend, lg.op1, lg.instrument.id, reason="维修")  # confirmed bookings stay
    lg.headers["clock"].move(days=1)
    with db.transaction():
        bookings.start(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, body["id"]))
    lg.headers["clock"].move(hours=2)
    times = {"actual_start": iso(1, "10:00"), "actual_end": iso(1, "11:30")}
    refused = expect(api(client, "POST", f"/bookings/{body['id']}/service-record", lg.headers["op1"], times), 409,
                     "listing_not_open")
    assert "通过预约提供的服务同样适用" in refused["message"]  # the API speaks Chinese unless asked otherwise

    sign_in(client, factory, lg.op1)
    english(client)
    path = f"/bookings/{body['id']}/service-record"
    form = {"start_date": "2026-12-02", "start_time": "10:00", "end_date": "2026-12-02", "end_time": "11:30",
            "samples": "", "result_delivered_on": "", "csrf_token": csrf_from(text(client.get(path)))}
    page = client.post(path, data=form)
    assert page.status_code == 409
    html = text(page)
    assert "not open to other organisations through the platform" in html and "booked services too" in html
    assert "it was not published then (a draft, or suspended, revoked or retired)" in field_errors(html)
    db.session.rollback()
    assert db.session.get(Booking, body["id"]).status == "in_progress"  # nothing recorded
