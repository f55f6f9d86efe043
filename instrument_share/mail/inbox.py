"""A person's in-app notifications: unread count, newest first, mark read."""

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ..core.clock import now_utc
from ..core.errors import NotFound
from ..db import db
from .models import Notification


def unread_count(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def page_of(user_id: int, page: int, per_page: int, unread_only: bool = False) -> tuple[list[Notification], int]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
                              .limit(per_page).offset((page - 1) * per_page))
    return list(rows), total


def mark_read(user_id: int, notification_id: int) -> Notification:
    """Mark one of the person's own notifications read (another person's is not found)."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        raise NotFound(_("No such notification."))
    if note.read_at is None:
        note.read_at = now_utc()
    return note


def mark_all_read(user_id: int) -> int:
    result = db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                           Notification.read_at.is_(None)).values(read_at=now_utc()))
    return result.rowcount or 0
