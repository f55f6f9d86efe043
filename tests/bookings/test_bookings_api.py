"""Bookings through the API on the real database, with a frozen clock (docs/api.md "Bookings", issue #4).

Create and quote, every refusal the contract names, the state machine and who may drive it, the scheduled jobs
(auto-rejection, no-shows, reminders), instruments becoming unavailable, availability and booking rules, list
scoping, the audit trail, and Idempotency-Key, including concurrent duplicates.

The clock starts on Tuesday 2026-12-01 10:00 in Nanjing; `iso(1, "10:00")` is Wednesday 10:00 local.
"""

import json
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from instrument_share.audit.models import AuditEntry
from instrument_share.bookings import lifecycle
from instrument_share.bookings.models import Booking, OrganizationBlock, ServiceContract
from instrument_share.core.clock import now_utc
from instrument_share.core.money import format_fen
from instrument_share.db import db

from ..booking_support import (
    DAY0,
    api,
    at,
    audit_actions,
    book,
    booker,
    booking_row,
    expect,
    iso,
    make_world,
    notifications,
    put_rules,
)
from ..catalogue_support import approve, civilian_unit, create, defence_unit, publish_civilian, review, submit

BOOKING_KEYS = {"id", "instrument_id", "organization_id", "user_id", "mode", "start", "end", "samples", "wanted_by",
                "status", "quote_fen"}
DEFENCE_VISIBILITY = {"name_zh": "public", "service_modes": "public", "fee_per_hour_fen": "cleared",
                      "fee_per_sample_fen": "cleared"}


@pytest.fixture
def w(frozen_clock, factory):
    world = make_world(factory)
    world.extra["clock"] = frozen_clock
    world.extra["factory"] = factory
    return world


def created(response) -> dict:
    return expect(response, 201)


def action(client, headers, booking_id: int, name: str, body: dict | None = None):
    return api(client, "POST", f"/bookings/{booking_id}/{name}", headers, body)


def bookings_in_db() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking))


def outbox_to(factory, user) -> int:
    db.session.rollback()
    return len(factory.outbox(user.email))


# ------------------------------------------------------------------------------------------------ create and quote


def test_a_machine_time_request_waits_for_confirmation_with_its_quote(client, w):
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:30")))
    assert set(body) >= BOOKING_KEYS and "contract_no" not in body
    assert (body["instrument_id"], body["mode"]) == (w.instrument.id, "machine_time")
    assert (body["status"], body["quote_fen"], body["start"], body["end"]) == (
        "pending", 75_000, "2026-12-02T10:00:00+08:00", "2026-12-02T11:30:00+08:00")
    assert (body["organization_id"], body["user_id"], body["samples"], body["wanted_by"]) == (
        w.alice.org.id, w.alice.user.id, None, None)
    assert expect(api(client, "GET", f"/bookings/{body['id']}", w.alice.headers), 200) == body
    assert audit_actions(body["id"]) == ["booking.requested"]
    # The unit's operators are told (in-app and by mail); the user accepted the contract terms by requesting.
    assert [n.booking_id for n in notifications(w.unit.operator, "requested")] == [body["id"]]
    assert outbox_to(w.extra["factory"], w.unit.operator) == 1
    contract = db.session.get(ServiceContract, body["id"])
    assert contract.user_accepted_by_id == w.alice.user.id and contract.contract_no is None


@pytest.mark.parametrize(("fee", "minutes", "quote"), [
    (50_000, 480, 400_000),
    (33_333, 30, 16_667),  # 16,666.5 rounds half up (banker's rounding would give 16,666)
    (12_345, 30, 6_173),  # 6,172.5
    (1, 30, 1),  # 0.5 fen
    (10_001, 90, 15_002),  # rounded once: per half hour first would give 3 × 5,001 = 15,003
])
def test_the_hourly_quote_is_fee_times_minutes_over_sixty_rounded_half_up_once(client, factory, frozen_clock, fee,
                                                                               minutes, quote):
    w = make_world(factory, fee_per_hour_fen=fee)
    end = at(1, "10:00") + timedelta(minutes=minutes)
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), end.isoformat()))
    assert body["quote_fen"] == quote
    assert booking_row(body["id"]).quote_basis == f"{format_fen(fee)}/小时 × {minutes}分钟"


def test_experiment_books_time_at_the_hourly_fee(client, w):
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "12:00"),
                        mode="experiment"))
    assert (body["mode"], body["quote_fen"], body["status"]) == ("experiment", 100_000, "pending")
    # ... and holds its time like machine time
    expect(book(client, w.bob.headers, w.instrument.id, iso(1, "11:00"), iso(1, "11:30")), 409, "booking_conflict")


@pytest.mark.parametrize("mode", ["sample_testing", "statutory_testing"])
def test_sample_orders_are_quoted_per_sample_and_hold_no_time(client, w, mode):
    body = created(book(client, w.alice.headers, w.instrument.id, mode=mode, samples=3, wanted_by="2026-12-20"))
    assert (body["mode"], body["samples"], body["wanted_by"], body["quote_fen"]) == (mode, 3, "2026-12-20", 60_000)
    assert (body["start"], body["end"], body["status"]) == (None, None, "pending")
    created(book(client, w.bob.headers, w.instrument.id, iso(1, "10:00"), iso(1, "18:00")))


@pytest.mark.parametrize(("extra", "field"), [
    ({"wanted_by": "2026-12-20"}, "samples"),
    ({"samples": 0, "wanted_by": "2026-12-20"}, "samples"),
    ({"samples": 2}, "wanted_by"),
    ({"samples": 2, "wanted_by": "20.12.2026"}, "wanted_by"),
    ({"samples": 2, "wanted_by": "2026-11-30"}, "wanted_by"),  # in the past
])
def test_sample_orders_need_a_number_of_samples_and_a_future_date(client, w, extra, field):
    body = expect(book(client, w.alice.headers, w.instrument.id, mode="sample_testing", **extra), 422)
    assert field in body["fields"]
    assert bookings_in_db() == 0


def test_time_bookings_need_start_and_end_with_an_offset(client, w):
    body = expect(book(client, w.alice.headers, w.instrument.id), 422)
    assert set(body["fields"]) == {"start", "end"}
    body = expect(book(client, w.alice.headers, w.instrument.id, "2026-12-02T10:00:00", "2026-12-02T11:00:00"), 422)
    assert "start" in body["fields"]
    expect(book(client, w.alice.headers, 999_999, iso(1, "10:00"), iso(1, "11:00")), 422)


def test_without_provider_confirmation_a_booking_is_confirmed_at_once_with_a_contract_number(client, w):
    put_rules(client, w.unit, w.instrument.id, needs_confirmation=False)
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    assert body["status"] == "confirmed"
    assert re.fullmatch(r"NJYQ-2026-\d{7}", body["contract_no"])
    assert audit_actions(body["id"]) == ["booking.requested", "booking.confirmed"]
    assert [n.kind for n in notifications(w.alice.user)] == ["confirmed"]
    contract = db.session.get(ServiceContract, body["id"])
    assert contract.contract_no == body["contract_no"] and contract.provider_accepted_at is not None


def test_a_mode_the_instrument_does_not_offer_is_refused(client, factory, frozen_clock):
    w = make_world(factory, service_modes=["machine_time"])
    expect(book(client, w.alice.headers, w.instrument.id, mode="sample_testing", samples=1, wanted_by="2026-12-20"),
           422, "mode_not_offered")
    expect(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), mode="experiment"),
           422, "mode_not_offered")


# ------------------------------------------------------------------------------------------------ rule refusals


@pytest.mark.parametrize(("code", "rules", "start", "end"), [
    ("too_short", {"granularity_minutes": 5}, iso(2, "10:00"), iso(2, "10:25")),
    ("too_long", {}, iso(2, "08:00"), iso(2, "16:30")),
    ("not_on_granularity", {}, iso(2, "10:15"), iso(2, "10:45")),
    ("not_on_granularity", {"granularity_minutes": 60}, iso(2, "10:00"), iso(2, "11:30")),
    ("notice_too_short", {}, iso(1, "09:30"), iso(1, "10:00")),
    ("notice_too_short", {"min_notice_hours": 48}, iso(2, "09:30"), iso(2, "10:00")),
    ("beyond_horizon", {"max_horizon_days": 7}, iso(7, "10:00"), iso(7, "10:30")),
    ("outside_opening_hours", {}, iso(4, "10:00"), iso(4, "11:00")),  # Saturday
    ("outside_opening_hours", {}, iso(2, "17:30"), iso(2, "18:30")),
    ("in_blackout", {"blackouts": [{"start": iso(2, "12:00"), "end": iso(2, "13:00"), "reason": "维护"}]},
     iso(2, "12:30"), iso(2, "13:30")),
])
def test_each_rule_refusal_names_the_rule(client, w, code, rules, start, end):
    put_rules(client, w.unit, w.instrument.id, **rules)
    body = expect(book(client, w.alice.headers, w.instrument.id, start, end), 422, code)
    assert body["message"]
    assert bookings_in_db() == 0


@pytest.mark.parametrize(("rules", "start", "end"), [
    ({"granularity_minutes": 5}, iso(2, "10:00"), iso(2, "10:30")),
    ({}, iso(2, "08:00"), iso(2, "16:00")),
    ({}, iso(1, "10:00"), iso(1, "10:30")),  # exactly 24 hours ahead
    ({"max_horizon_days": 7}, iso(7, "09:30"), iso(7, "10:00")),  # ends exactly 7 days ahead
    ({}, iso(2, "17:30"), iso(2, "18:00")),
    ({"blackouts": [{"start": iso(2, "12:00"), "end": iso(2, "13:00"), "reason": "维护"}]},
     iso(2, "13:00"), iso(2, "13:30")),
])
def test_the_boundaries_themselves_are_bookable(client, w, rules, start, end):
    put_rules(client, w.unit, w.instrument.id, **rules)
    created(book(client, w.alice.headers, w.instrument.id, start, end))


def test_the_quota_counts_the_organisations_future_hours_on_the_instrument(client, w, factory):
    put_rules(client, w.unit, w.instrument.id, quota_hours_per_org=2)
    colleague = factory.bearer(factory.user(w.alice.org, ("sme_user",)))
    created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    created(book(client, colleague, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))  # exactly 2 hours
    body = expect(book(client, w.alice.headers, w.instrument.id, iso(3, "10:00"), iso(3, "10:30")), 422,
                  "quota_exceeded")
    assert body["limits"] == {"quota_hours_per_org": 2}
    created(book(client, w.bob.headers, w.instrument.id, iso(3, "10:00"), iso(3, "12:00")))  # another organisation


# ------------------------------------------------------------------------------------------------ overlaps


def test_an_overlap_is_refused_with_the_conflicting_interval_and_back_to_back_is_fine(client, w):
    first = created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    for start, end in (("10:30", "11:30"), ("09:30", "10:30"), ("10:00", "11:00"), ("09:00", "12:00")):
        body = expect(book(client, w.bob.headers, w.instrument.id, iso(2, start), iso(2, end)), 409,
                      "booking_conflict")
        assert body["conflicts"] == [{"start": first["start"], "end": first["end"]}]
    expect(book(client, w.alice.headers, w.instrument.id, iso(2, "10:30"), iso(2, "11:00")), 409, "booking_conflict")
    created(book(client, w.bob.headers, w.instrument.id, iso(2, "11:00"), iso(2, "12:00")))
    created(book(client, w.bob.headers, w.instrument.id, iso(2, "09:00"), iso(2, "10:00")))
    body = expect(book(client, w.bob.headers, w.instrument.id, iso(2, "09:30"), iso(2, "11:30")), 409)
    assert len(body["conflicts"]) == 3


def test_the_buffer_keeps_the_next_booking_away(client, w):
    put_rules(client, w.unit, w.instrument.id, buffer_minutes=30)
    created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))  # holds to 11:30
    body = expect(book(client, w.bob.headers, w.instrument.id, iso(2, "11:00"), iso(2, "11:30")), 409,
                  "booking_conflict")
    assert body["conflicts"] == [{"start": iso(2, "10:00"), "end": iso(2, "11:30")}]
    expect(book(client, w.bob.headers, w.instrument.id, iso(2, "09:00"), iso(2, "10:00")), 409, "booking_conflict")
    created(book(client, w.bob.headers, w.instrument.id, iso(2, "11:30"), iso(2, "12:00")))
    created(book(client, w.bob.headers, w.instrument.id, iso(2, "09:00"), iso(2, "09:30")))  # its hold ends 10:00


def test_rejected_and_cancelled_bookings_free_their_time(client, w):
    first = created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, w.unit.h("operator"), first["id"], "reject", {"reason": "设备调试"}), 200)
    second = created(book(client, w.bob.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, w.bob.headers, second["id"], "cancel", {"reason": "计划变更"}), 200)
    created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    holding = [b.status for b in db.session.scalars(select(Booking).order_by(Booking.id))]
    assert holding == ["rejected", "cancelled", "pending"]



def test_a_session_in_progress_keeps_its_time_until_its_service_is_recorded(client, w):
    put_rules(client, w.unit, w.instrument.id, min_notice_hours=0, needs_confirmation=False)
    op = w.unit.h("operator")
    session = created(book(client, w.alice.headers, w.instrument.id, iso(0, "14:00"), iso(0, "16:00")))
    w.extra["clock"].move(hours=4)  # 14:00 local, the session's start
    expect(action(client, op, session["id"], "start"), 200)
    body = expect(book(client, w.bob.headers, w.instrument.id, iso(0, "15:00"), iso(0, "16:00")), 409,
                  "booking_conflict")
    assert body["conflicts"] == [{"start": session["start"], "end": session["end"]}]
    expect(action(client, w.alice.headers, session["id"], "cancel"), 409, "invalid_state")  # under way
    w.extra["clock"].move(hours=1)  # finished an hour early
    expect(api(client, "POST", f"/bookings/{session['id']}/service-record", op,
               {"actual_start": iso(0, "14:00"), "actual_end": iso(0, "15:00")}), 201)
    assert booking_row(session["id"]).hold_start is None
    created(book(client, w.bob.headers, w.instrument.id, iso(0, "15:30"), iso(0, "16:00")))

# ------------------------------------------------------------------------------------------------ who may book


def test_who_may_book(client, w, factory):
    expect(book(client, w.unit.h("operator"), w.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 403,
           "own_instrument")
    colleague_of_unit = factory.bearer(factory.user(w.unit.org, ("sme_user",)))
    expect(book(client, colleague_of_unit, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 403, "own_instrument")
    no_role = factory.bearer(factory.user(w.alice.org, ()))
    expect(book(client, no_role, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 403)
    unverified = factory.org(verified=False)
    expect(book(client, factory.bearer(factory.user(unverified, ("sme_user",))), w.instrument.id, iso(1, "10:00"),
                iso(1, "11:00")), 403)
    expect(book(client, {}, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 401)
    # An operator of another unit books for their own unit (provider_operator is a booking role).
    other_unit = civilian_unit(factory)
    body = created(book(client, other_unit.h("operator"), w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    assert body["organization_id"] == other_unit.org.id
    assert bookings_in_db() == 1


@pytest.mark.parametrize("how", ["suspend", "retire"])
def test_an_unavailable_instrument_takes_no_new_requests(client, w, how):
    expect(api(client, "POST", f"/instruments/{w.instrument.id}/{how}", w.unit.h("operator"), {"reason": "故障"}), 200)
    expect(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 409,
           "instrument_unavailable")
    expect(book(client, w.alice.headers, w.instrument.id, mode="sample_testing", samples=1, wanted_by="2026-12-20"),
           409, "instrument_unavailable")


def defence_world(client, factory, *, valid_until=None):
    unit = defence_unit(factory)
    instrument = create(unit, service_modes=["machine_time"])
    submit(unit, instrument)
    review(unit, instrument, DEFENCE_VISIBILITY)
    approve(unit, instrument, valid_until=valid_until)
    cleared, uncleared = booker(factory), booker(factory)
    expect(api(client, "POST", f"/organizations/{unit.org.id}/clearances", unit.h("operator"),
               {"organization_id": cleared.org.id, "agreement_version": "保密协议2026版"}), 201)
    return unit, instrument, cleared, uncleared


def test_defence_instruments_are_booked_by_cleared_organisations_only(client, factory, frozen_clock):
    unit, instrument, cleared, uncleared = defence_world(client, factory)
    body = expect(book(client, uncleared.headers, instrument.id, iso(1, "10:00"), iso(1, "11:00")), 403,
                  "not_cleared")
    assert body["message"]
    expect(api(client, "GET", f"/instruments/{instrument.id}/availability", uncleared.headers), 403, "not_cleared")
    expect(api(client, "GET", f"/instruments/{instrument.id}/booking-rules", uncleared.headers), 403, "not_cleared")
    first = created(book(client, cleared.headers, instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    busy = expect(api(client, "GET", f"/instruments/{instrument.id}/availability?from=2026-12-02&to=2026-12-02",
                      cleared.headers), 200)["busy"]
    assert busy == [{"start": first["start"], "end": first["end"]}]
    # A defence listing that is no longer published does not exist for outsiders: the same answer as no instrument.
    expect(api(client, "POST", f"/instruments/{instrument.id}/suspend", unit.h("operator"), {"reason": "检修"}), 200)
    unknown = expect(book(client, uncleared.headers, 999_999, iso(2, "10:00"), iso(2, "11:00")), 422)
    hidden = expect(book(client, uncleared.headers, instrument.id, iso(2, "10:00"), iso(2, "11:00")), 422)
    assert hidden == unknown
    # ... for cleared organisations too: only the owning unit and its approvers see it (docs/api.md)
    assert expect(book(client, cleared.headers, instrument.id, iso(2, "10:00"), iso(2, "11:00")), 422) == unknown


def test_an_expired_defence_listing_takes_no_requests_even_before_the_expiry_job(client, factory, frozen_clock):
    _unit, instrument, cleared, _uncleared = defence_world(client, factory, valid_until=DAY0 + timedelta(days=5))
    pending = created(book(client, cleared.headers, instrument.id, iso(7, "10:00"), iso(7, "11:00")))
    frozen_clock.move(days=6)  # 2026-12-07: the approval ended on 12-06
    expect(book(client, cleared.headers, instrument.id, iso(8, "10:00"), iso(8, "11:00")), 409,
           "instrument_unavailable")
    from instrument_share.catalogue import defence

    with db.transaction():
        assert defence.expire_due() == 1
    row = booking_row(pending["id"])
    assert row.status == "rejected" and row.reason and row.hold_start is None


# ------------------------------------------------------------------------------------------------ violations


def run(job) -> int:
    db.session.rollback()
    return job()


def test_more_than_three_violations_in_twelve_months_block_the_organisation(client, w, factory):
    clock = w.extra["clock"]
    put_rules(client, w.unit, w.instrument.id, needs_confirmation=False)
    ids = {name: created(book(client, w.alice.headers, w.instrument.id, iso(day, start), iso(day, end)))["id"]
           for name, day, start, end in (("a", 1, "10:00", "11:00"), ("b", 1, "14:00", "15:00"),
                                         ("c", 2, "10:00", "11:00"), ("d", 2, "14:00", "15:00"),
                                         ("e", 3, "10:00", "11:00"))}
    on_time = expect(action(client, w.alice.headers, ids["e"], "cancel", {"reason": "改期"}), 200)
    assert on_time["late_cancellation"] is False  # 72 hours ahead: not a violation

    clock.move(hours=25)  # Wednesday 11:00
    assert run(lifecycle.mark_no_shows) == 1  # a: violation 1
    late = expect(action(client, w.alice.headers, ids["c"], "cancel", {"reason": "临时有事"}), 200)
    assert late["late_cancellation"] is True  # 23 hours ahead: violation 2
    clock.move(hours=4)  # Wednesday 15:00
    assert run(lifecycle.mark_no_shows) == 1  # b: violation 3
    created(book(client, w.alice.headers, w.instrument.id, iso(6, "10:00"), iso(6, "11:00")))  # 3 is still allowed
    expect(action(client, w.alice.headers, ids["d"], "cancel", {}), 200)  # violation 4

    body = expect(book(client, w.alice.headers, w.instrument.id, iso(7, "10:00"), iso(7, "11:00")), 403,
                  "organization_blocked")
    assert body["message"]
    db.session.rollback()
    block = db.session.scalar(select(OrganizationBlock))
    assert (block.organization_id, block.unit_id, block.violations) == (w.alice.org.id, w.unit.org.id, 4)
    actions = [a for b in ids.values() for a in audit_actions(b) if a.startswith("violation.")]
    assert sorted(actions) == ["violation.late_cancellation", "violation.late_cancellation", "violation.no_show",
                               "violation.no_show"]
    # The operator corrects a no-show (the service did happen): three violations remain, so the block ends at once.
    corrected = expect(action(client, w.unit.h("operator"), ids["a"], "complete-no-show",
                              {"reason": "用户迟到，服务已完成"}), 200)
    assert corrected["status"] == "in_progress"
    db.session.rollback()
    assert db.session.scalar(select(OrganizationBlock)).until <= now_utc()
    assert "organization.unblocked" in db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "organization", AuditEntry.object_id == str(w.alice.org.id))).all()
    created(book(client, w.alice.headers, w.instrument.id, iso(7, "16:00"), iso(7, "17:00")))
    # Only this unit's instruments, and only this organisation.
    other = make_world(factory)
    created(book(client, w.alice.headers, other.instrument.id, iso(7, "10:00"), iso(7, "11:00")))
    created(book(client, w.bob.headers, w.instrument.id, iso(7, "10:00"), iso(7, "11:00")))
    # The block ends after VIOLATION_BLOCK_DAYS (90).
    clock.move(days=91)
    fresh = factory.bearer(w.alice.user)
    created(book(client, fresh, w.instrument.id, at(94, "10:00").isoformat(), at(94, "11:00").isoformat()))


def test_violations_older_than_twelve_months_do_not_count(client, w, factory):
    clock = w.extra["clock"]
    put_rules(client, w.unit, w.instrument.id, needs_confirmation=False)
    for day in (1, 2, 3):
        created(book(client, w.alice.headers, w.instrument.id, iso(day, "10:00"), iso(day, "11:00")))
    clock.move(days=4)
    assert run(lifecycle.mark_no_shows) == 3
    clock.move(days=362)  # 2027-12-06: the first three are more than 12 months old
    headers = factory.bearer(w.alice.user)
    start = at(366 + 1, "10:00")  # 2027-12-07, a Tuesday
    created(book(client, headers, w.instrument.id, start.isoformat(), (start + timedelta(hours=1)).isoformat()))
    clock.move(days=2)
    assert run(lifecycle.mark_no_shows) == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OrganizationBlock)) == 0
    start = at(366 + 6, "10:00")
    created(book(client, headers, w.instrument.id, start.isoformat(), (start + timedelta(hours=1)).isoformat()))


# ------------------------------------------------------------------------------------------------ state machine


def test_confirm_and_reject_are_the_units_and_follow_the_states(client, w, factory):
    op = w.unit.h("operator")
    first = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    second = created(book(client, w.alice.headers, w.instrument.id, iso(1, "14:00"), iso(1, "15:00")))
    other_operator = civilian_unit(factory).h("operator")
    expect(action(client, w.alice.headers, first["id"], "confirm"), 403)
    expect(action(client, w.bob.headers, first["id"], "confirm"), 404)
    expect(action(client, other_operator, first["id"], "confirm"), 404)

    confirmed = expect(action(client, op, first["id"], "confirm"), 200)
    assert confirmed["status"] == "confirmed" and re.fullmatch(r"NJYQ-2026-\d{7}", confirmed["contract_no"])
    expect(action(client, op, first["id"], "confirm"), 409, "invalid_state")
    expect(action(client, op, first["id"], "reject", {"reason": "x"}), 409, "invalid_state")
    assert [n.kind for n in notifications(w.alice.user)] == ["confirmed"]

    expect(action(client, op, second["id"], "reject", {}), 422)
    expect(action(client, op, second["id"], "reject", {"reason": "  "}), 422)
    rejected = expect(action(client, op, second["id"], "reject", {"reason": "设备检修"}), 200)
    assert (rejected["status"], rejected["reason"]) == ("rejected", "设备检修")
    expect(action(client, op, second["id"], "reject", {"reason": "again"}), 409, "invalid_state")
    expect(action(client, op, second["id"], "confirm"), 409, "invalid_state")
    expect(action(client, w.alice.headers, second["id"], "cancel"), 409, "invalid_state")
    assert [n.kind for n in notifications(w.alice.user)] == ["confirmed", "rejected"]
    assert audit_actions(first["id"]) == ["booking.requested", "booking.confirmed"]
    assert audit_actions(second["id"]) == ["booking.requested", "booking.rejected"]
    assert booking_row(first["id"]).decided_by_id == w.unit.operator.id


def test_cancelling(client, w, factory):
    op = w.unit.h("operator")
    pending = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    expect(action(client, w.bob.headers, pending["id"], "cancel"), 404)
    cancelled = expect(action(client, w.alice.headers, pending["id"], "cancel", {"reason": "不需要了"}), 200)
    assert (cancelled["status"], cancelled["late_cancellation"], cancelled["reason"]) == ("cancelled", False,
                                                                                          "不需要了")
    expect(action(client, w.alice.headers, pending["id"], "cancel"), 409, "invalid_state")
    assert [n.kind for n in notifications(w.unit.operator)] == ["requested", "cancelled"]
    # A colleague in the same organisation may cancel too; the unit may cancel and the user is told.
    colleague = factory.bearer(factory.user(w.alice.org, ("sme_user",)))
    second = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    expect(action(client, op, second["id"], "confirm"), 200)
    assert expect(action(client, colleague, second["id"], "cancel"), 200)["late_cancellation"] is False
    third = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    expect(action(client, op, third["id"], "confirm"), 200)
    w.extra["clock"].move(hours=12)  # 12 hours before: would be late for the user, but the unit cancels
    unit_cancel = expect(action(client, op, third["id"], "cancel", {"reason": "停电"}), 200)
    assert unit_cancel["late_cancellation"] is False
    assert notifications(w.alice.user)[-1].kind == "cancelled"
    assert audit_actions(third["id"]) == ["booking.requested", "booking.confirmed", "booking.cancelled"]


def test_arrival_and_no_show_correction(client, w):
    op = w.unit.h("operator")
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    late = created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, op, body["id"], "start"), 409, "invalid_state")  # still pending
    expect(action(client, op, body["id"], "confirm"), 200)
    expect(action(client, w.alice.headers, body["id"], "start"), 403)
    expect(action(client, op, body["id"], "complete-no-show", {"reason": "x"}), 409, "invalid_state")
    w.extra["clock"].move(hours=24, minutes=5)
    started = expect(action(client, op, body["id"], "start"), 200)
    assert started["status"] == "in_progress"
    expect(action(client, op, body["id"], "start"), 409, "invalid_state")
    expect(action(client, w.alice.headers, body["id"], "cancel"), 409, "invalid_state")

    expect(action(client, op, late["id"], "confirm"), 200)
    w.extra["clock"].move(hours=25)  # Thursday 11:05
    assert run(lifecycle.mark_no_shows) == 1
    assert booking_row(late["id"]).status == "no_show"
    expect(action(client, w.alice.headers, late["id"], "complete-no-show", {"reason": "来了"}), 403)
    expect(action(client, op, late["id"], "complete-no-show", {}), 422)
    corrected = expect(action(client, op, late["id"], "complete-no-show", {"reason": "用户按时到场，漏登记"}), 200)
    assert (corrected["status"], corrected["reason"]) == ("in_progress", "用户按时到场，漏登记")
    expect(action(client, op, late["id"], "complete-no-show", {"reason": "again"}), 409, "invalid_state")
    assert audit_actions(body["id"]) == ["booking.requested", "booking.confirmed", "booking.started"]
    assert audit_actions(late["id"]) == ["booking.requested", "booking.confirmed", "booking.no_show",
                                         "violation.no_show", "booking.no_show_corrected"]


# ------------------------------------------------------------------------------------------------ scheduled jobs


def test_an_unanswered_request_is_rejected_after_48_hours(client, w, app):
    clock = w.extra["clock"]
    body = created(book(client, w.alice.headers, w.instrument.id, iso(13, "10:00"), iso(13, "11:00")))
    clock.move(hours=47, minutes=59)
    assert run(lifecycle.auto_reject_due) == 0
    assert booking_row(body["id"]).status == "pending"
    clock.move(minutes=1)
    assert run(lifecycle.auto_reject_due) == 1
    row = booking_row(body["id"])
    assert row.status == "rejected" and row.reason and row.hold_start is None and row.decided_by_id is None
    assert run(lifecycle.auto_reject_due) == 0
    assert audit_actions(body["id"]) == ["booking.requested", "booking.auto_rejected"]
    assert [n.kind for n in notifications(w.alice.user)] == ["auto_rejected"]
    created(book(client, w.bob.headers, w.instrument.id, iso(13, "10:00"), iso(13, "11:00")))  # the time is free


def test_the_waiting_time_before_auto_rejection_is_configurable(client, w, app):
    app.config["AUTO_REJECT_HOURS"] = 12
    body = created(book(client, w.alice.headers, w.instrument.id, iso(13, "10:00"), iso(13, "11:00")))
    confirmed = created(book(client, w.alice.headers, w.instrument.id, iso(13, "14:00"), iso(13, "15:00")))
    expect(action(client, w.unit.h("operator"), confirmed["id"], "confirm"), 200)
    w.extra["clock"].move(hours=12)
    assert run(lifecycle.auto_reject_due) == 1
    assert booking_row(body["id"]).status == "rejected"
    assert booking_row(confirmed["id"]).status == "confirmed"


def test_a_request_is_rejected_when_its_start_comes_closer_than_the_notice(client, w):
    clock = w.extra["clock"]
    body = created(book(client, w.alice.headers, w.instrument.id, iso(1, "12:00"), iso(1, "13:00")))  # 26 h ahead
    sample = created(book(client, w.alice.headers, w.instrument.id, mode="sample_testing", samples=1,
                          wanted_by="2026-12-02"))
    clock.move(hours=2)  # exactly 24 hours before the start
    assert run(lifecycle.auto_reject_due) == 0
    clock.move(minutes=1)
    assert run(lifecycle.auto_reject_due) == 1
    assert booking_row(body["id"]).status == "rejected"
    assert booking_row(sample["id"]).status == "pending"  # a sample order waits its 48 hours


def test_a_confirmed_booking_not_started_an_hour_after_its_start_is_a_no_show(client, w):
    clock = w.extra["clock"]
    put_rules(client, w.unit, w.instrument.id, needs_confirmation=False)
    missed = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    attended = created(book(client, w.bob.headers, w.instrument.id, iso(1, "11:00"), iso(1, "12:00")))
    later = created(book(client, w.bob.headers, w.instrument.id, iso(1, "14:00"), iso(1, "15:00")))
    clock.move(hours=24, minutes=59)  # Wednesday 10:59
    assert run(lifecycle.mark_no_shows) == 0
    clock.move(minutes=1)  # 11:00, an hour after the start
    assert run(lifecycle.mark_no_shows) == 1
    assert run(lifecycle.mark_no_shows) == 0  # idempotent
    clock.move(minutes=30)
    expect(action(client, w.unit.h("operator"), attended["id"], "start"), 200)
    clock.move(hours=1)
    assert run(lifecycle.mark_no_shows) == 0
    assert [booking_row(b["id"]).status for b in (missed, attended, later)] == ["no_show", "in_progress",
                                                                                "confirmed"]
    assert booking_row(missed["id"]).hold_start is None
    assert audit_actions(missed["id"]).count("booking.no_show") == 1
    assert audit_actions(missed["id"]).count("violation.no_show") == 1
    assert [n.kind for n in notifications(w.alice.user)] == ["confirmed", "no_show"]
    assert notifications(w.unit.operator, "no_show")


def test_a_reminder_goes_out_24_hours_before_once(client, w, factory):
    clock = w.extra["clock"]
    confirmed = created(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, w.unit.h("operator"), confirmed["id"], "confirm"), 200)
    created(book(client, w.bob.headers, w.instrument.id, iso(2, "11:00"), iso(2, "12:00")))  # stays pending
    mails = outbox_to(factory, w.alice.user)
    clock.move(hours=23, minutes=59)  # Wednesday 09:59: 24 h 1 min before
    assert run(lifecycle.send_reminders) == 0
    clock.move(minutes=1)
    assert run(lifecycle.send_reminders) == 1
    assert run(lifecycle.send_reminders) == 0
    clock.move(hours=20)
    assert run(lifecycle.send_reminders) == 0
    assert len(notifications(w.alice.user, "reminder")) == 1
    assert notifications(w.bob.user, "reminder") == []
    assert outbox_to(factory, w.alice.user) == mails + 1
    assert booking_row(confirmed["id"]).reminded_at == at(1, "10:00")


def test_an_instrument_that_becomes_unavailable_rejects_pending_and_warns_confirmed(client, w):
    op = w.unit.h("operator")
    pending = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    confirmed = created(book(client, w.bob.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, op, confirmed["id"], "confirm"), 200)
    expect(api(client, "POST", f"/instruments/{w.instrument.id}/suspend", op, {"reason": "送修"}), 200)
    row = booking_row(pending["id"])
    assert row.status == "rejected" and row.reason and row.hold_start is None
    assert audit_actions(pending["id"])[-1] == "booking.auto_rejected"
    [notice] = notifications(w.alice.user)
    assert notice.kind == "auto_rejected" and row.reason in notice.message
    assert booking_row(confirmed["id"]).status == "confirmed"
    assert [n.kind for n in notifications(w.bob.user)] == ["confirmed", "instrument_unavailable"]
    assert notifications(w.unit.operator, "instrument_unavailable")


# ------------------------------------------------------------------------------------------------ availability


def spans(*items) -> list[dict]:
    return [{"start": iso(day, start), "end": iso(day, end)} for day, start, end in items]


def test_availability_shows_free_and_busy_time_without_identities(client, w):
    put_rules(client, w.unit, w.instrument.id, buffer_minutes=30)
    created(book(client, w.alice.headers, w.instrument.id, iso(1, "13:00"), iso(1, "14:00")))
    bob = created(book(client, w.bob.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00")))
    expect(action(client, w.unit.h("operator"), bob["id"], "confirm"), 200)
    gone = created(book(client, w.bob.headers, w.instrument.id, iso(2, "15:00"), iso(2, "16:00")))
    expect(action(client, w.bob.headers, gone["id"], "cancel"), 200)
    for headers in ({}, w.bob.headers, w.alice.headers):
        body = expect(api(client, "GET", f"/instruments/{w.instrument.id}/availability?from=2026-12-02&to=2026-12-03",
                          headers), 200)
        assert body == {"free": spans((1, "10:00", "12:30"), (1, "14:30", "18:00"), (2, "08:00", "09:30"),
                                      (2, "11:30", "18:00")),
                        "busy": spans((1, "13:00", "14:30"), (2, "10:00", "11:30"))}


def test_availability_range_is_at_most_31_days(client, w):
    path = f"/instruments/{w.instrument.id}/availability"
    default = expect(api(client, "GET", path), 200)  # today and the next six days
    assert default["free"][0]["start"] == iso(1, "10:00") and default["free"][-1]["end"] == iso(6, "18:00")
    expect(api(client, "GET", f"{path}?from=2026-12-01&to=2026-12-31"), 200)
    expect(api(client, "GET", f"{path}?from=2026-12-01&to=2027-01-01"), 422)
    expect(api(client, "GET", f"{path}?from=2026-12-05&to=2026-12-04"), 422)
    expect(api(client, "GET", f"{path}?from=tomorrow"), 422)
    expect(api(client, "GET", "/instruments/999999/availability"), 404)


# ------------------------------------------------------------------------------------------------ booking rules

DEFAULT_RULES = {
    "opening_hours": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)], "blackouts": [],
    "min_minutes": 30, "max_minutes": 480, "granularity_minutes": 30, "min_notice_hours": 24,
    "max_horizon_days": 90, "buffer_minutes": 0, "needs_confirmation": True, "cancel_notice_hours": 24,
    "quota_hours_per_org": None,
}


def test_booking_rules_default_and_put_replaces_the_whole_set(client, w):
    path = f"/instruments/{w.instrument.id}/booking-rules"
    assert expect(api(client, "GET", path), 200) == DEFAULT_RULES
    blackout = {"start": iso(3, "08:00"), "end": iso(3, "18:00"), "reason": "年度校准"}
    changed = put_rules(client, w.unit, w.instrument.id, min_minutes=60, buffer_minutes=15, quota_hours_per_org=10,
                        needs_confirmation=False, blackouts=[blackout],
                        opening_hours=[{"weekday": 5, "start": "09:00", "end": "12:00"}])
    assert changed == DEFAULT_RULES | {"min_minutes": 60, "buffer_minutes": 15, "quota_hours_per_org": 10,
                                       "needs_confirmation": False, "blackouts": [blackout],
                                       "opening_hours": [{"weekday": 5, "start": "09:00", "end": "12:00"}]}
    assert expect(api(client, "GET", path, w.alice.headers), 200) == changed
    assert put_rules(client, w.unit, w.instrument.id, granularity_minutes=15) == DEFAULT_RULES | {
        "granularity_minutes": 15}
    db.session.rollback()
    from instrument_share.audit.models import AuditEntry

    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "booking_rules.set", AuditEntry.object_id == str(w.instrument.id))) == 2


@pytest.mark.parametrize(("rules", "field"), [
    ({"min_minutes": 0}, "min_minutes"),
    ({"max_horizon_days": 731}, "max_horizon_days"),
    ({"min_minutes": 120, "max_minutes": 60}, "min_minutes"),
    ({"granularity_minutes": "30"}, "granularity_minutes"),
    ({"quota_hours_per_org": 0}, "quota_hours_per_org"),
    ({"needs_confirmation": "yes"}, "needs_confirmation"),
    ({"opening_hours": [{"weekday": 7, "start": "08:00", "end": "18:00"}]}, "opening_hours.0.weekday"),
    ({"opening_hours": [{"weekday": 1, "start": "18:00", "end": "08:00"}]}, "opening_hours.0"),
    ({"opening_hours": [{"weekday": 1, "start": "8 am", "end": "18:00"}]}, "opening_hours.0"),
    ({"blackouts": [{"start": "2026-12-03T08:00:00", "end": "2026-12-03T12:00:00"}]}, "blackouts.0"),
    ({"blackouts": [{"start": iso(3, "12:00"), "end": iso(3, "08:00")}]}, "blackouts.0"),
    ({"unknown_rule": 1}, "unknown_rule"),
])
def test_invalid_booking_rules_are_refused_naming_the_field(client, w, rules, field):
    path = f"/instruments/{w.instrument.id}/booking-rules"
    body = expect(api(client, "PUT", path, w.unit.h("operator"), rules), 422)
    assert field in body["fields"], body
    assert expect(api(client, "GET", path), 200) == DEFAULT_RULES


def test_only_the_units_operators_set_booking_rules(client, w, factory):
    path = f"/instruments/{w.instrument.id}/booking-rules"
    expect(api(client, "PUT", path, None, {"min_minutes": 60}), 401)
    expect(api(client, "PUT", path, w.alice.headers, {"min_minutes": 60}), 403)
    expect(api(client, "PUT", path, civilian_unit(factory).h("operator"), {"min_minutes": 60}), 403)
    assert expect(api(client, "GET", path), 200) == DEFAULT_RULES


# ------------------------------------------------------------------------------------------------ who sees what


def test_bookings_are_seen_by_the_booking_organisation_and_the_owning_unit(client, w, factory):
    a1 = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    a2 = created(book(client, w.alice.headers, w.instrument.id, iso(1, "11:00"), iso(1, "12:00")))
    b1 = created(book(client, w.bob.headers, w.instrument.id, iso(1, "14:00"), iso(1, "15:00")))
    other_unit = civilian_unit(factory)
    other_instrument = publish_civilian(other_unit)
    u1 = created(book(client, w.unit.h("operator"), other_instrument.id, iso(2, "10:00"), iso(2, "11:00")))

    def ids(headers, query=""):
        body = expect(api(client, "GET", f"/bookings{query}", headers), 200)
        assert set(body) == {"items", "page", "per_page", "total"}
        return [item["id"] for item in body["items"]]

    colleague = factory.bearer(factory.user(w.alice.org, ("sme_user",)))
    assert ids(w.alice.headers) == ids(colleague) == [a2["id"], a1["id"]]
    assert ids(w.bob.headers) == [b1["id"]]
    # The unit's operator sees its instrument's bookings and its own organisation's bookings elsewhere.
    assert ids(w.unit.h("operator")) == [u1["id"], b1["id"], a2["id"], a1["id"]]
    assert ids(w.unit.h("operator"), "?scope=unit") == [b1["id"], a2["id"], a1["id"]]
    assert ids(w.unit.h("operator"), "?scope=mine") == [u1["id"]]
    assert ids(other_unit.h("operator")) == [u1["id"]]
    assert ids(w.unit.h("operator"), f"?instrument_id={w.instrument.id}&status=pending") == [b1["id"], a2["id"],
                                                                                              a1["id"]]
    page = expect(api(client, "GET", "/bookings?per_page=1&page=2", w.alice.headers), 200)
    assert (page["total"], page["page"], page["per_page"], [i["id"] for i in page["items"]]) == (2, 2, 1, [a1["id"]])

    for headers in (w.bob.headers, other_unit.h("operator")):
        expect(api(client, "GET", f"/bookings/{a1['id']}", headers), 404, "not_found")
    expect(api(client, "GET", f"/bookings/{a1['id']}"), 401)
    expect(api(client, "GET", "/bookings/999999", w.alice.headers), 404)


# ------------------------------------------------------------------------------------------------ Idempotency-Key


def test_the_same_key_and_body_give_the_first_answer(client, w):
    first = book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k-1")
    again = book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k-1")
    assert (again.status_code, again.get_json()) == (201, created(first))
    assert bookings_in_db() == 1
    other_body = book(client, w.alice.headers, w.instrument.id, iso(1, "14:00"), iso(1, "15:00"), key="k-1")
    expect(other_body, 422, "idempotency_key_reused")
    assert bookings_in_db() == 1
    # Keys belong to the user: another user's same key is a new request.
    created(book(client, w.bob.headers, w.instrument.id, iso(1, "14:00"), iso(1, "15:00"), key="k-1"))
    expect(book(client, w.alice.headers, w.instrument.id, iso(2, "10:00"), iso(2, "11:00"), key="x" * 256), 422)


def test_a_refusal_is_the_answer_to_its_key(client, w):
    taken = created(book(client, w.bob.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    refused = expect(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k-2"),
                     409, "booking_conflict")
    expect(action(client, w.bob.headers, taken["id"], "cancel"), 200)
    replay = book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k-2")
    assert (replay.status_code, replay.get_json()) == (409, refused)
    created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00"), key="k-3"))


def fire_at_once(app, requests: list[tuple[dict, dict]]) -> list[tuple[int, dict]]:
    """Send the requests from as many threads at the same moment; each thread has its own client and session."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def go(i, headers, body):
        client = app.test_client()
        barrier.wait(30)
        response = client.post("/api/v1/bookings", headers=headers, json=body)
        results[i] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=go, args=(i, h, b)) for i, (h, b) in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_duplicates_with_one_key_make_exactly_one_booking(app, w):
    body = {"instrument_id": w.instrument.id, "mode": "machine_time", "start": iso(1, "10:00"), "end": iso(1, "11:00")}
    results = fire_at_once(app, [(w.alice.headers | {"Idempotency-Key": "dup-1"}, body)] * 8)
    assert bookings_in_db() == 1
    statuses = sorted(status for status, _ in results)
    assert statuses[0] == 201 and set(statuses) <= {201, 409}, results
    assert len({str(b) for status, b in results if status == 201}) == 1
    assert all(b["error"] == "request_in_flight" for status, b in results if status == 409), results
    # After the first finished, every retry gets its answer.
    db.session.rollback()
    [winner] = db.session.scalars(select(Booking.id))
    for _ in range(2):
        status, again = fire_at_once(app, [(w.alice.headers | {"Idempotency-Key": "dup-1"}, body)])[0]
        assert (status, again["id"]) == (201, winner)


def test_concurrent_requests_for_one_slot_have_exactly_one_winner(app, w, factory):
    clients = [w.alice.headers, w.bob.headers] + [booker(factory).headers for _ in range(6)]
    body = {"instrument_id": w.instrument.id, "mode": "machine_time", "start": iso(1, "10:00"), "end": iso(1, "11:00")}
    results = fire_at_once(app, [(h, body) for h in clients])
    assert sorted(status for status, _ in results) == [201] + [409] * 7, results
    assert all(b["error"] == "booking_conflict" and b["conflicts"] == [{"start": body["start"], "end": body["end"]}]
               for status, b in results if status == 409)
    assert bookings_in_db() == 1


def test_the_database_itself_refuses_an_overlapping_hold(app, w):
    """Even a write that skips the service's check cannot double-book (exclusion constraint or trigger)."""
    from sqlalchemy.exc import IntegrityError

    def row(start, end, status="pending"):
        return Booking(instrument_id=w.instrument.id, unit_id=w.unit.org.id, organization_id=w.alice.org.id,
                       user_id=w.alice.user.id, mode="machine_time", status=status, start_at=start, end_at=end,
                       hold_start=start, hold_end=end, quote_fen=0, quote_basis="test")

    with db.transaction():
        db.session.add(row(at(1, "10:00"), at(1, "11:00")))
    with pytest.raises(IntegrityError), db.transaction():
        db.session.add(row(at(1, "10:30"), at(1, "11:30"), "confirmed"))
    with pytest.raises(IntegrityError), db.transaction():
        db.session.add(row(at(1, "10:30"), at(1, "11:30"), "in_progress"))
    with db.transaction():  # back to back, and an overlapping one that holds nothing
        db.session.add(row(at(1, "11:00"), at(1, "12:00")))
        db.session.add(row(at(1, "10:30"), at(1, "11:30"), "cancelled"))
    cancelled = db.session.scalar(select(Booking).where(Booking.status == "cancelled"))
    with pytest.raises(IntegrityError), db.transaction():
        db.session.merge(cancelled).status = "pending"  # re-activating it would overlap
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 3



def wait_until_blocked(seconds: float = 10) -> None:
    """Until another connection waits for a lock (PostgreSQL); on SQLite, a moment for the writer to queue up."""
    import time

    from sqlalchemy import text

    if db.dialect != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + seconds
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'")).scalar()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the request never waited for the lock")


@pytest.mark.parametrize(("name", "body"), [("confirm", None), ("reject", {"reason": "满了"}), ("cancel", {})])
def test_a_decision_racing_a_cancellation_acts_on_the_committed_state(app, w, name, body):
    """While the user's cancellation is being committed, the unit's decision waits for it and then finds the
    booking cancelled (409), instead of overwriting it and leaving a confirmed booking that holds no time."""
    from sqlalchemy import update

    pending = created(book(app.test_client(), w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    conn = db.engine.connect().execution_options(write=True)
    trans = conn.begin()
    conn.execute(update(Booking).where(Booking.id == pending["id"]).values(
        status="cancelled", hold_start=None, hold_end=None))
    results = []

    def decide():
        response = app.test_client().post(f"/api/v1/bookings/{pending['id']}/{name}", json=body,
                                          headers=w.unit.h("operator"))
        results.append((response.status_code, response.get_json()))

    thread = threading.Thread(target=decide)
    thread.start()
    try:
        wait_until_blocked()
        trans.commit()
    finally:
        conn.close()
        thread.join(30)
    assert results[0][0] == 409 and results[0][1]["error"] == "invalid_state", results
    row = booking_row(pending["id"])
    assert (row.status, row.hold_start, row.contract_no) == ("cancelled", None, None)


def test_when_only_the_database_sees_the_overlap_the_loser_still_gets_409_naming_it(client, w, monkeypatch):
    """With the service's own check switched off, the exclusion constraint (PostgreSQL) or the trigger (SQLite)
    refuses the overlapping hold: 409 booking_conflict with the conflicting interval, never a 500."""
    from instrument_share.bookings import service

    first = created(book(client, w.alice.headers, w.instrument.id, iso(1, "10:00"), iso(1, "11:00")))
    monkeypatch.setattr(service, "conflicts", lambda *args, **kwargs: [])
    body = expect(book(client, w.bob.headers, w.instrument.id, iso(1, "10:30"), iso(1, "11:30")), 409,
                  "booking_conflict")
    assert body["conflicts"] == [{"start": first["start"], "end": first["end"]}]
    created(book(client, w.bob.headers, w.instrument.id, iso(1, "11:00"), iso(1, "12:00")))
    assert bookings_in_db() == 2
    assert audit_actions(first["id"]) == ["booking.requested"]


def test_a_request_still_in_flight_gets_409_until_it_is_abandoned(client, w):
    """While the first request with a key is running (its claim has no answer yet), a duplicate is told 409; a claim
    left without an answer for IDEMPOTENCY_IN_FLIGHT_SECONDS (the first request died) is taken over."""
    from instrument_share.bookings import idempotency

    body = {"instrument_id": w.instrument.id, "mode": "machine_time", "start": iso(1, "12:00"), "end": iso(1, "13:00")}
    with db.transaction():  # the first request has claimed the key and is still working
        assert idempotency.claim(w.alice.user.id, "slow-1", idempotency.body_hash(json.dumps(body).encode())) is None
    headers = w.alice.headers | {"Idempotency-Key": "slow-1"}
    expect(api(client, "POST", "/bookings", headers, body), 409, "request_in_flight")
    assert bookings_in_db() == 0
    w.extra["clock"].move(seconds=59)
    expect(api(client, "POST", "/bookings", headers, body), 409, "request_in_flight")
    w.extra["clock"].move(seconds=2)
    first = created(api(client, "POST", "/bookings", headers, body))
    assert expect(api(client, "POST", "/bookings", headers, body), 201) == first
    assert bookings_in_db() == 1
