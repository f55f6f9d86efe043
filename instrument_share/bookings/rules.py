"""Pure booking rules and availability: no Flask, no database.

Intervals are half-open [start, end) in aware UTC datetimes; opening hours are local (Asia/Shanghai) wall-clock
times. A booking holds [start, end + buffer), so the buffer keeps the next booking away.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..core.errors import DomainError
from .states import BookingStatus

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Window:
    weekday: int  # Monday 0
    start: time
    end: time


DEFAULT_OPENING = tuple(Window(d, time(8), time(18)) for d in range(5))


@dataclass(frozen=True)
class Rules:
    opening_hours: tuple[Window, ...] = DEFAULT_OPENING
    blackouts: tuple[tuple[datetime, datetime, str], ...] = ()
    min_minutes: int = 30
    max_minutes: int = 480
    granularity_minutes: int = 30
    min_notice_hours: int = 24
    max_horizon_days: int = 90
    buffer_minutes: int = 0
    needs_confirmation: bool = True
    cancel_notice_hours: int = 24
    quota_hours_per_org: int | None = None

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)


class RuleBroken(Exception):
    """A request breaks a rule; `code` is the API error code, `detail` names the limit."""

    def __init__(self, code: str, detail: dict | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail or {}


class RuleViolation(DomainError):
    """The refusal a service answers for a broken booking rule (RuleBroken's code) or an unoffered mode."""

    status = 422


@dataclass
class Check:
    start: datetime
    end: datetime
    now: datetime
    tz: ZoneInfo
    holds: list[Interval] = field(default_factory=list)  # others' holds on the instrument
    org_future_minutes: int = 0  # the organisation's future held minutes on the instrument


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz)


def opening_intervals(rules: Rules, first: date, last: date, tz: ZoneInfo) -> list[Interval]:
    """Opening hours from `first` to `last` (local dates, inclusive) as UTC intervals."""
    out: list[Interval] = []
    day = first
    while day <= last:
        for window in rules.opening_hours:
            if window.weekday == day.weekday() and window.end > window.start:
                out.append((datetime.combine(day, window.start, tz), datetime.combine(day, window.end, tz)))
        day += timedelta(days=1)
    return sorted(out)


def subtract(intervals: list[Interval], cuts: list[Interval]) -> list[Interval]:
    result = []
    cuts = sorted(c for c in cuts if c[1] > c[0])
    for start, end in intervals:
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                result.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def blocked_by_holds(rules: Rules, holds: list[Interval]) -> list[Interval]:
    """Where a new booking may not lie: each hold, widened by the buffer the new booking would carry after it."""
    return [(start - rules.buffer, end) for start, end in holds]


def free_intervals(rules: Rules, holds: list[Interval], first: date, last: date, now: datetime,
                   tz: ZoneInfo) -> list[Interval]:
    """Time in which a booking may start and end, for the local dates `first`..`last`."""
    earliest = now + timedelta(hours=rules.min_notice_hours)
    latest = now + timedelta(days=rules.max_horizon_days)
    windows = [(max(s, earliest), min(e, latest)) for s, e in opening_intervals(rules, first, last, tz)]
    windows = [(s, e) for s, e in windows if e > s]
    cuts = [(b[0], b[1]) for b in rules.blackouts] + blocked_by_holds(rules, holds)
    return subtract(windows, cuts)


def check_request(rules: Rules, c: Check) -> None:
    """Raise RuleBroken naming the first rule a machine-time request breaks, in a fixed order."""
    minutes = (c.end - c.start).total_seconds() / 60
    if c.end <= c.start or minutes < rules.min_minutes:
        raise RuleBroken("too_short", {"min_minutes": rules.min_minutes})
    if minutes > rules.max_minutes:
        raise RuleBroken("too_long", {"max_minutes": rules.max_minutes})
    local_start = _local(c.start, c.tz)
    step = rules.granularity_minutes
    if (local_start.hour * 60 + local_start.minute) % step or local_start.second or local_start.microsecond \
            or minutes % step:
        raise RuleBroken("not_on_granularity", {"granularity_minutes": step})
    if c.start < c.now + timedelta(hours=rules.min_notice_hours):
        raise RuleBroken("notice_too_short", {"min_notice_hours": rules.min_notice_hours})
    if c.end > c.now + timedelta(days=rules.max_horizon_days):
        raise RuleBroken("beyond_horizon", {"max_horizon_days": rules.max_horizon_days})
    windows = opening_intervals(rules, local_start.date(), _local(c.end, c.tz).date(), c.tz)
    if not any(s <= c.start and c.end <= e for s, e in windows):
        raise RuleBroken("outside_opening_hours", {})
    for start, end, reason in rules.blackouts:
        if start < c.end and c.start < end:
            raise RuleBroken("in_blackout", {"reason": reason})
    if rules.quota_hours_per_org is not None and c.org_future_minutes + minutes > rules.quota_hours_per_org * 60:
        raise RuleBroken("quota_exceeded", {"quota_hours_per_org": rules.quota_hours_per_org})


def conflicts(rules: Rules, start: datetime, end: datetime, holds: list[Interval]) -> list[Interval]:
    """Holds that the new hold [start, end + buffer) would overlap."""
    new_end = end + rules.buffer
    return [(s, e) for s, e in holds if s < new_end and start < e]


def is_late_cancellation(rules: Rules, *, status: str, start_at: datetime | None, now: datetime,
                         by_booking_organisation: bool) -> bool:
    """Whether cancelling now counts as a violation: the booking organisation cancels a confirmed booking less than
    the instrument's cancellation notice before it starts. A pending request, a sample order (no start) and the
    unit's own cancellation never count."""
    return by_booking_organisation and status == BookingStatus.confirmed and start_at is not None and \
        start_at - now < timedelta(hours=rules.cancel_notice_hours)
