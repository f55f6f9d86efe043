"""In-app notifications plus mail through the outbox, written in the caller's transaction."""

from flask import url_for
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.roles import Role
from ..db import db
from ..mail import outbox
from ..mail.models import Notification
from .models import Booking


def unit_operators(unit_id: int) -> list[User]:
    users = db.session.scalars(select(User).where(User.organization_id == unit_id, User.is_disabled.is_(False)))
    return [u for u in users if u.has_role(Role.provider_operator)]


def notify(users: list[User], kind: str, booking: Booking, message: str) -> None:
    link = url_for("bookings.detail", booking_id=booking.id, _external=True)
    seen = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        db.session.add(Notification(user_id=user.id, kind=kind, booking_id=booking.id, message=message))
        outbox.enqueue(user.email, message, "booking_notice", user=user, message=message, link=link)
    db.session.flush()
