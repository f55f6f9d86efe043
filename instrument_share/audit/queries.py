"""Filtering audit entries for the audit administrator (pages and API)."""

import json
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, select

from ..core.clock import local_zone
from .models import AuditEntry


def parse_bound(raw: str, *, end: bool) -> datetime:
    """A date means that whole Asia/Shanghai day; a time without offset is local time."""
    tz = local_zone()
    raw = raw.strip()
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        start = datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=tz)
        return start
    value = datetime.fromisoformat(raw)
    return value if value.tzinfo else value.replace(tzinfo=tz)


def filtered(*, action: str | None = None, actor_id: int | None = None, start: datetime | None = None,
             end: datetime | None = None, outcome: str | None = None) -> Select:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if action:
        # "login" matches every login.* action; a full name matches exactly.
        stmt = stmt.where((AuditEntry.action == action) | AuditEntry.action.startswith(action.rstrip(".") + "."))
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if start is not None:
        stmt = stmt.where(AuditEntry.at >= start)
    if end is not None:
        stmt = stmt.where(AuditEntry.at < end)
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    return stmt


def details_of(entry: AuditEntry) -> dict:
    return json.loads(entry.details)
