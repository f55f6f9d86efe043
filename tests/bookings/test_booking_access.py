"""Decisions pinned by bookings.access, bookings.rules and bookings.states: who sees a unit's bookings, the one
"may this organisation book this instrument" rule (API and booking page), the late-cancellation rule and the
booking states' moves."""

from datetime import UTC, datetime, timedelta

import pytest

from instrument_share.accounts.models import Organization
from instrument_share.accounts.roles import OrgStatus, Role
from instrument_share.bookings import access
from instrument_share.bookings.models import Booking
from instrument_share.bookings.rules import Rules, is_late_cancellation
from instrument_share.bookings.states import (
    CANCEL,
    CANCELLABLE,
    CONFIRM,
    CORRECT_NO_SHOW,
    HOLDING,
    MARK_NO_SHOW,
    REJECT,
    START,
    BookingStatus,
)
from instrument_share.db import db

from .. import catalogue_support as cs
from .._booking_pages import book, civilian_setup, clear, zh
from .._pages import sign_in, text
from ..booking_support import api

DEFENCE_VISIBILITY = {"name_zh": "public", "service_modes": "public", "fee_per_hour_fen": "cleared",
                      "fee_per_sample_fen": "cleared"}


def _set_status(org, status: OrgStatus) -> None:
    with db.transaction():
        db.session.get(Organization, org.id).status = status


# ------------------------------------------------------------------------------------------------ who sees a unit's


def test_the_operator_role_alone_opens_no_unit_bookings_in_the_api(client, factory, frozen_clock):
    """Decision: "operator of this unit" is catalogue.access.is_operator_of, as in the ledger's readable_clause —
    the provider_operator role inside an organisation that is not a verified provider does not widen the list."""
    s = civilian_setup(factory)
    booking = book(s.booker, s.instrument, "2026-12-02", "10:00", "11:00")
    operator, booker = factory.bearer(s.unit.operator), factory.bearer(s.booker)
    assert api(client, "GET", f"/bookings/{booking.id}", operator).status_code == 200
    assert [b["id"] for b in api(client, "GET", "/bookings", operator).get_json()["items"]] == [booking.id]
    _set_status(s.unit.org, OrgStatus.pending)  # the unit is no longer a verified provider
    assert api(client, "GET", f"/bookings/{booking.id}", operator).status_code == 404
    assert api(client, "GET", "/bookings", operator).get_json()["items"] == []
    assert api(client, "POST", f"/bookings/{booking.id}/confirm", operator).status_code == 404
    assert api(client, "GET", f"/bookings/{booking.id}", booker).status_code == 200  # the booker still sees it


def test_the_operator_role_alone_opens_no_unit_bookings_on_the_pages(client, factory, frozen_clock):
    s = civilian_setup(factory)
    booking = book(s.booker, s.instrument, "2026-12-02", "10:00", "11:00")
    sign_in(client, factory, s.unit.operator)
    assert client.get(f"/bookings/{booking.id}").status_code == 200
    _set_status(s.unit.org, OrgStatus.pending)
    assert client.get(f"/bookings/{booking.id}").status_code == 404
    assert client.get(f"/bookings/{booking.id}/service-record").status_code == 404  # the ledger page asks the same


# ------------------------------------------------------------------------------------------------ may book


def test_one_booking_refusal_for_service_and_page(client, factory, frozen_clock):
    s = civilian_setup(factory)  # machine time and sample testing
    booker = db.session.merge(s.booker)
    assert access.booking_refusal(booker, s.instrument) is None
    assert access.booking_refusal(booker, s.instrument, "machine_time") is None
    assert access.booking_refusal(booker, s.instrument, "experiment").code == "mode_not_offered"
    assert access.booking_refusal(None, s.instrument).status == 401
    own = access.booking_refusal(db.session.merge(s.unit.operator), s.instrument)
    assert own.code == "own_instrument"
    # The page shows the refusal the API gives, word for word.
    sign_in(client, factory, s.unit.operator)
    page = text(client.get(f"/instruments/{s.instrument.id}/book"))
    assert "data-barrier" in page and zh("A unit does not book its own instruments here.") in page


def test_a_defence_instrument_is_booked_by_cleared_organisations_only(factory, frozen_clock):
    unit = cs.defence_unit(factory, with_headers=False)
    instrument = cs.publish_defence(unit, DEFENCE_VISIBILITY, service_modes=["machine_time"])
    org = factory.org("enterprise")
    user = factory.user(org, (Role.sme_user,))
    assert access.booking_refusal(db.session.merge(user), instrument).code == "not_cleared"
    clear(unit, org)
    assert access.booking_refusal(db.session.merge(user), instrument) is None


# ------------------------------------------------------------------------------------------------ late cancellation

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "hours_ahead", "by_org", "late"), [
    ("confirmed", 23, True, True),
    ("confirmed", 24, True, False),  # exactly the notice: in time
    ("confirmed", 23, False, False),  # the unit cancelling is never the booker's violation
    ("pending", 1, True, False),  # a request not yet confirmed may be withdrawn any time
    ("confirmed", None, True, False),  # a sample order has no start
])
def test_late_cancellation_rule(status, hours_ahead, by_org, late):
    start = None if hours_ahead is None else NOW + timedelta(hours=hours_ahead)
    assert is_late_cancellation(Rules(cancel_notice_hours=24), status=BookingStatus(status), start_at=start, now=NOW,
                                by_booking_organisation=by_org) is late


# ------------------------------------------------------------------------------------------------ states


def test_states_are_the_stored_strings():
    assert BookingStatus.in_progress == "in_progress" and f"{BookingStatus.no_show}" == "no_show"
    assert set(HOLDING) == {"pending", "confirmed", "in_progress"}
    assert set(CANCELLABLE) == {"pending", "confirmed"}


@pytest.mark.parametrize(("transition", "sources"), [
    (CONFIRM, {"pending"}), (REJECT, {"pending"}), (CANCEL, {"pending", "confirmed"}), (START, {"confirmed"}),
    (MARK_NO_SHOW, {"confirmed"}), (CORRECT_NO_SHOW, {"no_show"}),
])
def test_each_move_is_allowed_from_its_states_only(transition, sources):
    for status in BookingStatus:
        assert transition.allowed_from(status) is (status in sources), (transition.name, status)


def test_leaving_the_holding_states_frees_the_held_time():
    start = NOW + timedelta(days=2)
    for transition in (REJECT, CANCEL):
        booking = Booking(status="pending", hold_start=start, hold_end=start + timedelta(hours=1))
        booking.move(transition)
        assert (booking.status, booking.hold_start, booking.hold_end) == (transition.target, None, None)
    confirmed = Booking(status="confirmed", hold_start=start, hold_end=start + timedelta(hours=1))
    confirmed.move(START)  # a session under way keeps its time
    assert confirmed.hold_start == start
    with pytest.raises(ValueError):
        confirmed.move(CONFIRM)
