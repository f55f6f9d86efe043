"""Builders shared by the booking tests: a provider unit with an instrument, booking organisations, local times.

The frozen clock of these tests starts on Tuesday 2026-12-01 10:00 in Nanjing (02:00 UTC): with the default rules
(Monday–Friday 08:00–18:00, 24 hours' notice) the earliest bookable time is Wednesday 2026-12-02 10:00.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from instrument_share.audit.models import AuditEntry
from instrument_share.bookings.models import Booking
from instrument_share.db import db
from instrument_share.mail.models import Notification

from .catalogue_support import Unit, civilian_unit, publish_civilian
from .client import call as api

TZ = ZoneInfo("Asia/Shanghai")
DAY0 = datetime(2026, 12, 1, tzinfo=TZ).date()  # Tuesday; the frozen clock's local date
ALL_MODES = ["machine_time", "sample_testing", "experiment", "statutory_testing"]


def at(day: int, hhmm: str) -> datetime:
    """Local time on DAY0 + `day` (day 1 is Wednesday 2026-12-02)."""
    return datetime.combine(DAY0 + timedelta(days=day), time.fromisoformat(hhmm), TZ)


def iso(day: int, hhmm: str) -> str:
    return at(day, hhmm).isoformat()


@dataclass
class Booker:
    """A booking organisation (an enterprise) with one sme_user."""

    org: object
    user: object
    headers: dict


@dataclass
class World:
    unit: Unit
    instrument: object
    alice: Booker  # the main booking organisation
    bob: Booker  # another organisation
    extra: dict = field(default_factory=dict)


def booker(factory, kind: str = "enterprise", roles: tuple = ("sme_user",)) -> Booker:
    org = factory.org(kind)
    user = factory.user(org, roles)
    return Booker(org, user, factory.bearer(user))


def make_world(factory, **instrument_changes) -> World:
    unit = civilian_unit(factory)
    changes = {"service_modes": ALL_MODES} | instrument_changes
    instrument = publish_civilian(unit, **changes)
    return World(unit, instrument, booker(factory), booker(factory))


def book(client, headers: dict, instrument_id: int, start: str | None = None, end: str | None = None, *,
         mode: str = "machine_time", key: str | None = None, **extra):
    body = {"instrument_id": instrument_id, "mode": mode} | extra
    if start is not None:
        body |= {"start": start, "end": end}
    return api(client, "POST", "/bookings", headers | ({"Idempotency-Key": key} if key else {}), body)


def put_rules(client, unit: Unit, instrument_id: int, **rules):
    response = api(client, "PUT", f"/instruments/{instrument_id}/booking-rules", unit.h("operator"), rules)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def expect(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    if code is not None:
        assert body["error"] == code, body
        assert set(body) >= {"error", "message", "fields"}
    return body


def booking_row(booking_id: int) -> Booking:
    db.session.rollback()
    return db.session.get(Booking, booking_id)


def audit_actions(booking_id: int) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "booking", AuditEntry.object_id == str(booking_id)).order_by(AuditEntry.seq)))


def notifications(user, kind: str | None = None) -> list[Notification]:
    db.session.rollback()
    stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))
