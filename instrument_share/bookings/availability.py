"""Free and busy time of an instrument for up to 31 local days; busy time carries no identity."""

from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _

from ..catalogue.models import Instrument
from ..catalogue.visibility import Viewer
from ..core.clock import local_zone, now_utc
from ..core.errors import PermissionDenied, ValidationFailed
from .rules import free_intervals, merge
from .ruleset import load_rules
from .service import holds

MAX_DAYS = 31


def may_see_schedule(viewer: Viewer, instrument: Instrument) -> bool:
    """Availability and rules are shown to those who may book: for a defence listing, cleared organisations."""
    if not instrument.is_defence or instrument.owner_id in viewer.full_units:
        return True
    return viewer.organization_id is not None and instrument.owner_id in viewer.cleared_by


def require_schedule_access(viewer: Viewer, instrument: Instrument) -> None:
    if not may_see_schedule(viewer, instrument):
        raise PermissionDenied(_("Only organisations the defence unit has cleared see its schedule and book it."),
                               code="not_cleared")


def parse_range(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date]:
    try:
        first = date.fromisoformat(raw_from) if raw_from else today
        last = date.fromisoformat(raw_to) if raw_to else first + timedelta(days=6)
    except ValueError as exc:
        raise ValidationFailed(_("from and to are dates like 2026-12-01."),
                               fields={"from": _("YYYY-MM-DD"), "to": _("YYYY-MM-DD")}) from exc
    if last < first:
        raise ValidationFailed(_("to is before from."), fields={"to": _("before from")})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed(_("At most 31 days at a time."), fields={"to": _("at most 31 days after from")})
    return first, last


def availability(instrument: Instrument, first: date, last: date) -> dict[str, list[tuple[datetime, datetime]]]:
    tz = local_zone()
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tz)
    rules = load_rules(instrument.id)
    taken = holds(instrument.id, start - rules.buffer - timedelta(days=1), end + timedelta(days=1))
    free = free_intervals(rules, taken, first, last, now_utc(), tz)
    busy = [(max(s, start), min(e, end)) for s, e in merge(taken) if s < end and e > start]
    return {"free": free, "busy": busy}

