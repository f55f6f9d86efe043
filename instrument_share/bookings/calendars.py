"""iCalendar feeds (RFC 5545, made with the icalendar package) and the private calendar address of a person.

No feed carries anyone's identity: an instrument's feed shows taken time only; a person's feed names the booking
number, the instrument (as that person may see it) and the status, never who booked.
"""

import hashlib
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_babel import gettext as _
from icalendar import Calendar, Event
from sqlalchemy import and_, or_, select

from ..accounts.models import User
from ..accounts.roles import OrgStatus
from ..audit import chain as audit
from ..catalogue import access
from ..catalogue.models import Instrument
from ..catalogue.present import instrument_json
from ..catalogue.visibility import Viewer, viewer_for
from ..core.clock import local_today, now_utc
from ..db import db
from .labels import BOOKING_STATUS_LABELS
from .models import Booking, CalendarToken
from .rules import merge
from .service import holds
from .states import BookingStatus

PAST = timedelta(days=30)
AHEAD = timedelta(days=400)
MAX_EVENTS = 2000
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
OWN_STATES = (BookingStatus.pending, BookingStatus.confirmed, BookingStatus.in_progress, BookingStatus.completed)
UNIT_STATES = (BookingStatus.confirmed, BookingStatus.in_progress)


def _host() -> str:
    return urlsplit(current_app.config.get("BASE_URL") or "").hostname or "instrumentshare"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//InstrumentShare//Nanjing S&T resource sharing platform//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "UTC")
    return cal


def instrument_name(instrument: Instrument, viewer: Viewer) -> str:
    return instrument_json(instrument, viewer).get("name_zh") or _("Listing #%(id)d", id=instrument.id)


def instrument_feed(instrument: Instrument, viewer: Viewer) -> bytes:
    """Taken time of the instrument, merged, without identity (the caller checked that the viewer may see it)."""
    now = now_utc()
    cal = _calendar(instrument_name(instrument, viewer))
    for start, end in merge(holds(instrument.id, now - PAST, now + AHEAD))[:MAX_EVENTS]:
        event = Event()
        event.add("uid", f"busy-{instrument.id}-{int(start.timestamp())}-{int(end.timestamp())}@{_host()}")
        event.add("dtstamp", now)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", _("Booked"))
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()


def feed_bookings(user: User) -> list[Booking]:
    """The bookings the person made for their organisation, and for an operator the unit's confirmed bookings."""
    today, now = local_today(), now_utc()
    recent = or_(Booking.start_at >= now - PAST, Booking.wanted_by >= today - PAST)
    clauses = [and_(Booking.user_id == user.id, Booking.organization_id == user.organization_id,
                    Booking.status.in_(OWN_STATES))]
    if access.is_operator_of(user, user.organization_id):
        clauses.append(and_(Booking.unit_id == user.organization_id, Booking.status.in_(UNIT_STATES)))
    return list(db.session.scalars(select(Booking).where(or_(*clauses), recent)
                                   .order_by(Booking.id.desc()).limit(MAX_EVENTS)))


def user_feed(user: User) -> bytes:
    viewer, now = viewer_for(user), now_utc()
    cal = _calendar(_("My bookings (%(user)s)", user=user.username))
    names: dict[int, str] = {}
    for booking in feed_bookings(user):
        if booking.instrument_id not in names:
            names[booking.instrument_id] = instrument_name(booking.instrument, viewer)
        name = names[booking.instrument_id]
        event = Event()
        event.add("uid", f"booking-{booking.id}@{_host()}")
        event.add("dtstamp", now)
        if booking.start_at is not None:
            event.add("dtstart", booking.start_at)
            event.add("dtend", booking.end_at)
            event.add("summary", _("Booking no. %(id)d: %(instrument)s", id=booking.id, instrument=name))
        else:
            event.add("dtstart", booking.wanted_by)
            event.add("dtend", booking.wanted_by + timedelta(days=1))
            event.add("summary", _("Results wanted, booking no. %(id)d: %(instrument)s", id=booking.id,
                                   instrument=name))
        event.add("status", "TENTATIVE" if booking.status == BookingStatus.pending else "CONFIRMED")
        event.add("description", str(BOOKING_STATUS_LABELS.get(booking.status, booking.status)))
        event.add("url", url_for("bookings.detail", booking_id=booking.id, _external=True))
        cal.add_component(event)
    return cal.to_ical()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_of(user: User) -> CalendarToken | None:
    return db.session.get(CalendarToken, user.id)


def rotate_token(user: User) -> str:
    """A new private address for the person's feed (the old one stops working); only the hash is kept."""
    secret = secrets.token_urlsafe(32)
    stored = token_of(user) or CalendarToken(user_id=user.id)
    stored.token_hash, stored.created_at = _digest(secret), now_utc()
    db.session.add(stored)
    db.session.flush()
    audit.append("calendar_token.rotated", actor=user, object_type="user", object_id=user.id)
    return secret


def revoke_token(user: User) -> bool:
    stored = token_of(user)
    if stored is None:
        return False
    db.session.delete(stored)
    db.session.flush()
    audit.append("calendar_token.revoked", actor=user, object_type="user", object_id=user.id)
    return True


def user_for_token(secret: str) -> User | None:
    """The person whose feed the address names, while their account and organisation are active."""
    if not TOKEN_SHAPE.match(secret or ""):
        return None
    stored = db.session.scalar(select(CalendarToken).where(CalendarToken.token_hash == _digest(secret)))
    if stored is None:
        return None
    user = db.session.get(User, stored.user_id)
    if user is None or user.is_disabled or user.organization.status == OrgStatus.suspended:
        return None
    return user
