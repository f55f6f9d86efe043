"""The week calendar of an instrument (Monday–Sunday, local time): a grid of free, partly free, taken and closed
cells built from availability.availability, which never carries identity."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from ..catalogue.models import Instrument
from ..core.clock import local_zone
from .availability import availability
from .rules import Interval, Rules

STEP = timedelta(minutes=30)
WEEKDAYS = (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"),
            _l("Sunday"))
STATE_LABELS = {"free": _l("Free"), "part": _l("Partly free"), "busy": _l("Taken"), "closed": _l("Closed")}
FAR = timedelta(days=3 * 366)  # weeks further away than this from today are not shown (nor computed)


def monday_of(raw: str | None, today: date) -> date:
    """The Monday of the week holding `raw` (YYYY-MM-DD); today's week when missing, malformed or far away."""
    try:
        day = date.fromisoformat(raw) if raw else today
    except ValueError:
        day = today
    if abs(day - today) > FAR:
        day = today
    return day - timedelta(days=day.weekday())


@dataclass
class Week:
    monday: date
    days: list[date]
    rows: list[tuple[str, list[str]]]  # ("09:30", [state per day])
    free: dict[date, list[tuple[str, str]]]  # local "HH:MM" spans per day
    busy: dict[date, list[tuple[str, str]]]

    @property
    def previous(self) -> date:
        return self.monday - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.monday + timedelta(days=7)


def _covered(cell: Interval, spans: list[Interval]) -> timedelta:
    return sum((min(cell[1], e) - max(cell[0], s) for s, e in spans if s < cell[1] and e > cell[0]), timedelta())


def _state(cell: Interval, free: list[Interval], busy: list[Interval]) -> str:
    free_part = _covered(cell, free)
    if any(s < cell[1] and e > cell[0] for s, e in busy):
        return "part" if free_part else "busy"
    if free_part >= cell[1] - cell[0]:
        return "free"
    return "part" if free_part else "closed"


def _hours(rules: Rules, busy: list[Interval], zone: ZoneInfo) -> tuple[int, int]:
    """The first and last hour the grid shows: opening hours and any taken time, 08–18 when nothing is open."""
    starts = [w.start.hour for w in rules.opening_hours]
    ends = [w.end.hour + (1 if w.end.minute else 0) for w in rules.opening_hours]
    for s, e in busy:
        ls, le = s.astimezone(zone), e.astimezone(zone)
        starts.append(ls.hour if ls.date() == le.date() else 0)
        ends.append(le.hour + (1 if le.minute else 0) if ls.date() == le.date() and le.time() != time(0) else 24)
    if not starts:
        return 8, 18
    first, last = max(min(starts), 0), min(max(ends), 24)
    return (first, last) if first < last else (8, 18)


def _spans(intervals: list[Interval], day: date, zone: ZoneInfo) -> list[tuple[str, str]]:
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    out = []
    for s, e in intervals:
        if s < end and e > start:
            ls, le = max(s, start).astimezone(zone), min(e, end).astimezone(zone)
            out.append((ls.strftime("%H:%M"), "24:00" if le == end.astimezone(zone) else le.strftime("%H:%M")))
    return out


def build_week(instrument: Instrument, rules: Rules, monday: date) -> Week:
    zone = local_zone()
    days = [monday + timedelta(days=i) for i in range(7)]
    spans = availability(instrument, days[0], days[-1])
    free, busy = spans["free"], spans["busy"]
    first, last = _hours(rules, busy, zone)
    rows = []
    slot = timedelta(hours=first)
    while slot < timedelta(hours=last):
        label = f"{slot.seconds // 3600:02d}:{slot.seconds % 3600 // 60:02d}"
        states = []
        for day in days:
            start = datetime.combine(day, time(0), zone) + slot
            states.append(_state((start, start + STEP), free, busy))
        rows.append((label, states))
        slot += STEP
    return Week(monday, days, rows, {d: _spans(free, d, zone) for d in days}, {d: _spans(busy, d, zone) for d in days})


def opening_by_weekday(rules: Rules) -> list[tuple[str, list[str]]]:
    """(weekday name, ["08:00–12:00", ...]) for Monday to Sunday."""
    out = []
    for weekday, name in enumerate(WEEKDAYS):
        windows = sorted((w for w in rules.opening_hours if w.weekday == weekday), key=lambda w: w.start)
        out.append((name, [f"{w.start.strftime('%H:%M')}–{w.end.strftime('%H:%M')}" for w in windows]))
    return out


def upcoming_blackouts(rules: Rules, now: datetime) -> list[tuple[datetime, datetime, str]]:
    return [b for b in rules.blackouts if b[1] > now]
