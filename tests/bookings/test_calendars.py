"""iCalendar feeds: an instrument's taken time (no identity, only for those who may see the schedule) and a
person's bookings at a private token address (only the token's SHA-256 is stored)."""

import hashlib
import re
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import select

from instrument_share.accounts.roles import Role
from instrument_share.bookings.models import CalendarToken
from instrument_share.db import db

from .. import catalogue_support as cs
from .._booking_pages import book, civilian_setup, clear, confirm, other_booker, zh
from .._pages import sign_in, submit, text


def parse(response) -> tuple[Calendar, list]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/calendar"
    cal = Calendar.from_ical(response.data)
    return cal, list(cal.walk("VEVENT"))


def span(event) -> tuple[datetime, datetime]:
    return event.decoded("dtstart"), event.decoded("dtend")


def identities(*users) -> list[str]:
    return [value for u in users for value in (u.username, u.email, u.organization.name)]


def test_instrument_feed_shows_taken_time_without_identity(client, factory, frozen_clock):
    s = civilian_setup(factory)
    hidden = other_booker(factory, "隐秘科技有限公司", "hidden_booker")
    book(hidden, s.instrument, "2026-12-03", "09:00", "10:00")
    book(s.booker, s.instrument, "2026-12-03", "10:00", "11:00")  # adjoining: one block
    book(s.booker, s.instrument, "2026-12-04", "14:00", "15:30")
    response = client.get(f"/instruments/{s.instrument.id}/calendar.ics")  # anonymous: a civilian listing
    cal, events = parse(response)
    assert str(cal["x-wr-calname"]) == "场发射扫描电子显微镜"
    assert sorted(span(e) for e in events) == [
        (datetime(2026, 12, 3, 1, tzinfo=UTC), datetime(2026, 12, 3, 3, tzinfo=UTC)),
        (datetime(2026, 12, 4, 6, tzinfo=UTC), datetime(2026, 12, 4, 7, 30, tzinfo=UTC))]
    assert {str(e["summary"]) for e in events} == {zh("Booked")}
    body = response.data.decode()
    assert "DTSTART:20261203T010000Z" in body.replace("\r\n ", "")
    for value in identities(hidden, s.booker):
        assert value not in body, value
    assert client.get("/instruments/999999/calendar.ics").status_code == 404


def test_defence_instrument_feed_only_for_cleared_organisations(client, factory, frozen_clock):
    unit = cs.defence_unit(factory, with_headers=False)
    listing = cs.publish_defence(unit, {"name_zh": "hidden", "service_modes": "cleared",
                                        "fee_per_hour_fen": "cleared"})
    s_org = factory.org("enterprise", name="受信企业丙")
    cleared_user = factory.user(s_org, roles=(Role.sme_user,), username="cleared_c")
    rival = other_booker(factory, "另一受信企业丁", "rival_d")
    clear(unit, s_org)
    clear(unit, rival.organization)
    book(rival, listing, "2026-12-03", "09:00", "10:00")

    assert client.get(f"/instruments/{listing.id}/calendar.ics").status_code == 404  # anonymous
    outsider = factory.app.test_client()
    sign_in(outsider, factory, other_booker(factory, "未受信企业", "uncleared_e"))
    assert outsider.get(f"/instruments/{listing.id}/calendar.ics").status_code == 404

    sign_in(client, factory, cleared_user)
    response = client.get(f"/instruments/{listing.id}/calendar.ics")
    cal, events = parse(response)
    assert str(cal["x-wr-calname"]) == zh("Listing #%(id)d", id=listing.id)  # the name is hidden from them
    assert [span(e) for e in events] == [(datetime(2026, 12, 3, 1, tzinfo=UTC), datetime(2026, 12, 3, 2, tzinfo=UTC))]
    for value in [*identities(rival), "场发射扫描电子显微镜"]:
        assert value not in response.data.decode(), value
    # The owning unit sees its own listing's name.
    operator = factory.app.test_client()
    sign_in(operator, factory, unit.operator)
    cal, _events = parse(operator.get(f"/instruments/{listing.id}/calendar.ics"))
    assert str(cal["x-wr-calname"]) == "场发射扫描电子显微镜"


def feed_path(html: str) -> str:
    match = re.search(r'<code class="secret feed-url">https?://[^/<]+(/calendar/[^<]+\.ics)</code>', html)
    assert match, "no calendar address on the page"
    return match.group(1)


def test_personal_feed_at_a_private_token_address(client, factory, frozen_clock):
    s = civilian_setup(factory)
    colleague = factory.user(s.booker_org, roles=(Role.sme_user,), username="colleague_b2")
    stranger = other_booker(factory, "隐秘科技有限公司", "hidden_booker")
    mine = book(s.booker, s.instrument, "2026-12-03", "09:00", "10:00")
    order = None
    with db.transaction():
        from instrument_share.bookings import service

        order = service.create_booking(actor=db.session.merge(s.booker), req=service.Request(
            s.instrument.id, "sample_testing", samples=2, wanted_by=datetime(2026, 12, 18).date()))
    theirs = book(colleague, s.instrument, "2026-12-03", "13:00", "14:00")
    strangers = book(stranger, s.instrument, "2026-12-04", "09:00", "10:00")
    confirm(s.unit.operator, strangers)

    sign_in(client, factory, s.booker)
    response = submit(client, "/calendar/token", page="/bookings")
    assert response.status_code == 201
    path = feed_path(text(response))
    secret = path.removeprefix("/calendar/").removesuffix(".ics")
    stored = db.session.scalar(select(CalendarToken).where(CalendarToken.user_id == s.booker.id))
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest() and secret not in text(
        client.get("/bookings"))

    anonymous = factory.app.test_client()
    response = anonymous.get(path)
    assert response.headers["Cache-Control"] == "private, no-store"
    _cal, events = parse(response)
    uids = {str(e["uid"]).split("@")[0] for e in events}
    assert uids == {f"booking-{mine.id}", f"booking-{order.id}"}  # not the colleague's, not another organisation's
    timed = next(e for e in events if str(e["uid"]).startswith(f"booking-{mine.id}@"))
    assert span(timed) == (datetime(2026, 12, 3, 1, tzinfo=UTC), datetime(2026, 12, 3, 2, tzinfo=UTC))
    assert str(timed["status"]) == "TENTATIVE" and "场发射扫描电子显微镜" in str(timed["summary"])
    for value in identities(colleague, stranger):
        assert value not in response.data.decode(), value
    assert theirs.id != mine.id

    # An operator's feed adds the unit's confirmed bookings, still without who booked them.
    operator = factory.app.test_client()
    sign_in(operator, factory, s.unit.operator)
    op_path = feed_path(text(submit(operator, "/calendar/token", page="/bookings")))
    op_response = anonymous.get(op_path)
    _cal, events = parse(op_response)
    assert {str(e["uid"]).split("@")[0] for e in events} == {f"booking-{strangers.id}"}
    for value in identities(stranger, s.booker):
        assert value not in op_response.data.decode(), value

    # A new address ends the old one; a wrong or stopped one is 404.
    new_path = feed_path(text(submit(client, "/calendar/token", page="/bookings")))
    assert anonymous.get(path).status_code == 404 and anonymous.get(new_path).status_code == 200
    assert anonymous.get("/calendar/" + "x" * 43 + ".ics").status_code == 404
    assert anonymous.get("/calendar/short.ics").status_code == 404
    assert submit(client, "/calendar/token/revoke", page="/bookings").status_code == 302
    assert anonymous.get(new_path).status_code == 404
