"""Builders shared by the booking page and calendar tests: a provider unit with a published instrument, booking
organisations, bookings made through the real service, and form helpers for the booking page."""

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from instrument_share.accounts.models import Organization, User
from instrument_share.accounts.roles import Role
from instrument_share.bookings import ruleset, service
from instrument_share.bookings.models import Booking
from instrument_share.catalogue import clearances
from instrument_share.catalogue.models import Instrument
from instrument_share.db import db

from . import catalogue_support as cs
from ._pages import csrf_from, text

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.strptime(hhmm, "%H:%M").time(), SHANGHAI)


@dataclass
class Setup:
    unit: cs.Unit
    instrument: Instrument
    booker_org: Organization
    booker: User


def civilian_setup(factory, **instrument_changes) -> Setup:
    """A university with a published instrument (machine time and sample testing, 500 yuan/hour, 200 yuan/sample)
    and an enterprise user who books it."""
    unit = cs.civilian_unit(factory, with_headers=False)
    instrument = cs.publish_civilian(unit, **instrument_changes)
    booker_org = factory.org("enterprise", name="预约企业乙")
    booker = factory.user(booker_org, roles=(Role.sme_user,), username="booker_b")
    return Setup(unit, instrument, booker_org, booker)


def other_booker(factory, org_name: str = "隐秘科技有限公司", username: str = "hidden_booker") -> User:
    org = factory.org("enterprise", name=org_name)
    return factory.user(org, roles=(Role.sme_user,), username=username)


def book(user: User, instrument: Instrument, day: str, start: str, end: str, mode: str = "machine_time") -> Booking:
    with db.transaction():
        return service.create_booking(actor=db.session.merge(user), req=service.Request(
            instrument.id, mode, start=local(day, start), end=local(day, end)))


def confirm(operator: User, booking: Booking) -> Booking:
    with db.transaction():
        return service.confirm(actor=db.session.merge(operator), booking=db.session.get(Booking, booking.id))


def set_rules(operator: User, instrument: Instrument, **payload) -> None:
    with db.transaction():
        ruleset.set_rules(actor=db.session.merge(operator), instrument=db.session.get(Instrument, instrument.id),
                          payload=payload)


def clear(unit: cs.Unit, org: Organization) -> None:
    with db.transaction():
        clearances.grant(actor=db.session.merge(unit.operator), unit=db.session.get(Organization, unit.org.id),
                         organization_id=org.id, agreement_version="保密协议2026版")


def booking_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking))


def fresh(booking_id: int) -> Booking:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Booking, booking_id)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]*)"', html) or re.search(
        rf'type="hidden" name="{re.escape(name)}" value="([^"]*)"', html) or re.search(
        rf'id="{re.escape(name)}" name="{re.escape(name)}" type="hidden" value="([^"]*)"', html)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def booking_form(client, instrument_id: int, kind: str = "time", **values) -> dict:
    """The booking page's form of one kind, filled in: CSRF token and the page's single-use nonce included."""
    html = text(client.get(f"/instruments/{instrument_id}/book"))
    data = {f"{kind}-{k}": v for k, v in values.items()}
    return data | {"csrf_token": csrf_from(html), f"{kind}-nonce": hidden(html, f"{kind}-nonce")}


def post_booking(client, instrument_id: int, kind: str = "time", **values):
    form = booking_form(client, instrument_id, kind, **values)
    path = f"/instruments/{instrument_id}/book/{'time' if kind == 'time' else 'samples'}"
    return client.post(path, data=form), form


def zh(msgid: str, **values) -> str:
    """The Chinese text the pages show for a message (whatever its wording in the catalogue)."""
    from flask import current_app
    from flask_babel import force_locale, gettext

    with current_app.test_request_context(), force_locale("zh"):
        return gettext(msgid, **values)


def field_error(html: str, field_id: str) -> str:
    """The error text shown next to the field with this id ('' when none)."""
    found = re.findall(rf'<span class="field-error" id="{re.escape(field_id)}-error">([^<]*)</span>', html)
    return " ".join(found)
