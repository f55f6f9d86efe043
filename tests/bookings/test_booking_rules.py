"""The pure booking rules (bookings/rules.py): every refusal at its boundary, and the two-way property that a slot
offered as free is bookable and a bookable slot is offered as free.

No Flask, no database. Times are half-open [start, end); opening hours are local (Asia/Shanghai) wall-clock times.
The reference clock is Tuesday 2026-12-01 10:00 local, so with the default 24 hours' notice the earliest start is
Wednesday 10:00.
"""

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from instrument_share.bookings.rules import (
    DEFAULT_OPENING,
    Check,
    RuleBroken,
    Rules,
    Window,
    blocked_by_holds,
    check_request,
    conflicts,
    free_intervals,
    merge,
    opening_intervals,
    subtract,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=TZ)  # Tuesday


def at(day: int, hhmm: str) -> datetime:
    """Local time on 2026-12-01 + `day` (1 = Wednesday 2026-12-02)."""
    return datetime.combine(date(2026, 12, 1) + timedelta(days=day), time.fromisoformat(hhmm), TZ)


def refusal(rules: Rules, start: datetime, end: datetime, *, now: datetime = NOW, org_minutes: int = 0) -> str | None:
    try:
        check_request(rules, Check(start, end, now, TZ, org_future_minutes=org_minutes))
    except RuleBroken as broken:
        return broken.code
    return None


# ------------------------------------------------------------------------------------------- refusals at boundaries

FINE = Rules(granularity_minutes=5)
BLACKOUT = Rules(blackouts=((at(1, "12:00"), at(1, "14:00"), "真空泵维护"),))
QUOTA = Rules(quota_hours_per_org=2)
SPLIT = Rules(opening_hours=(Window(2, time(8), time(12)), Window(2, time(13), time(18))))


@pytest.mark.parametrize(("rules", "start", "end", "org_minutes", "expected"), [
    # length: at least min_minutes (30), at most max_minutes (480)
    (FINE, at(1, "10:00"), at(1, "10:30"), 0, None),
    (FINE, at(1, "10:00"), at(1, "10:25"), 0, "too_short"),
    (FINE, at(1, "10:00"), at(1, "10:00"), 0, "too_short"),
    (FINE, at(1, "11:00"), at(1, "10:00"), 0, "too_short"),
    (Rules(), at(1, "10:00"), at(1, "18:00"), 0, None),  # exactly 480 minutes
    (FINE, at(1, "10:00"), at(1, "18:05"), 0, "too_long"),
    (Rules(opening_hours=(Window(2, time(0), time(23, 30)),)), at(1, "08:00"), at(1, "16:30"), 0, "too_long"),
    # granularity (30 minutes): the start on the local grid, the length a multiple
    (Rules(), at(1, "10:30"), at(1, "11:00"), 0, None),
    (Rules(), at(1, "10:15"), at(1, "11:15"), 0, "not_on_granularity"),
    (Rules(), at(1, "10:00"), at(1, "10:45"), 0, "not_on_granularity"),
    (Rules(), at(1, "10:00") + timedelta(seconds=1), at(1, "11:00") + timedelta(seconds=1), 0,
     "not_on_granularity"),
    (Rules(granularity_minutes=60), at(1, "10:30"), at(1, "11:30"), 0, "not_on_granularity"),
    # notice: 24 hours, the boundary itself allowed
    (Rules(), at(1, "10:00"), at(1, "10:30"), 0, None),
    (Rules(), at(1, "09:30"), at(1, "10:30"), 0, "notice_too_short"),
    (Rules(min_notice_hours=0), at(0, "10:00"), at(0, "10:30"), 0, None),
    (Rules(min_notice_hours=0), at(0, "09:30"), at(0, "10:00"), 0, "notice_too_short"),
    # horizon: 90 days; 2027-03-01 (a Monday) 10:00 is exactly 90 days ahead
    (Rules(), at(90, "09:30"), at(90, "10:00"), 0, None),
    (Rules(), at(90, "09:30"), at(90, "10:30"), 0, "beyond_horizon"),
    (Rules(max_horizon_days=7), at(7, "09:00"), at(7, "10:00"), 0, None),
    (Rules(max_horizon_days=7), at(7, "10:00"), at(7, "10:30"), 0, "beyond_horizon"),
    # opening hours: Monday–Friday 08:00–18:00, both ends inside one window
    (Rules(), at(2, "08:00"), at(2, "08:30"), 0, None),
    (Rules(), at(2, "07:30"), at(2, "08:00"), 0, "outside_opening_hours"),
    (Rules(), at(2, "07:30"), at(2, "08:30"), 0, "outside_opening_hours"),
    (Rules(), at(2, "17:30"), at(2, "18:00"), 0, None),
    (Rules(), at(2, "17:30"), at(2, "18:30"), 0, "outside_opening_hours"),
    (Rules(), at(4, "10:00"), at(4, "11:00"), 0, "outside_opening_hours"),  # Saturday
    (SPLIT, at(1, "11:30"), at(1, "12:00"), 0, None),
    (SPLIT, at(1, "13:00"), at(1, "13:30"), 0, None),
    (SPLIT, at(1, "11:30"), at(1, "13:30"), 0, "outside_opening_hours"),  # across the lunch break
    (SPLIT, at(1, "12:00"), at(1, "12:30"), 0, "outside_opening_hours"),
    # blackouts, half-open: touching is fine, overlapping by any amount is not
    (BLACKOUT, at(1, "11:30"), at(1, "12:00"), 0, None),
    (BLACKOUT, at(1, "14:00"), at(1, "14:30"), 0, None),
    (BLACKOUT, at(1, "11:30"), at(1, "12:30"), 0, "in_blackout"),
    (BLACKOUT, at(1, "13:30"), at(1, "14:00"), 0, "in_blackout"),
    (BLACKOUT, at(1, "10:00"), at(1, "16:00"), 0, "in_blackout"),
    # quota of future hours per organisation: reaching it is fine, exceeding it is not
    (QUOTA, at(1, "10:00"), at(1, "11:00"), 60, None),
    (QUOTA, at(1, "10:00"), at(1, "11:30"), 60, "quota_exceeded"),
    (QUOTA, at(1, "10:00"), at(1, "12:00"), 0, None),
    (QUOTA, at(1, "10:00"), at(1, "12:30"), 0, "quota_exceeded"),
])
def test_each_rule_at_its_boundary(rules, start, end, org_minutes, expected):
    assert refusal(rules, start, end, org_minutes=org_minutes) == expected


def test_the_refusal_names_the_limit():
    with pytest.raises(RuleBroken) as exc:
        check_request(Rules(), Check(at(1, "09:00"), at(1, "10:00"), NOW, TZ))
    assert exc.value.code == "notice_too_short" and exc.value.detail == {"min_notice_hours": 24}
    with pytest.raises(RuleBroken) as exc:
        check_request(BLACKOUT, Check(at(1, "12:00"), at(1, "13:00"), NOW, TZ))
    assert exc.value.detail == {"reason": "真空泵维护"}


def test_rules_are_checked_in_a_fixed_order():
    """A request breaking several rules is refused for the first: length, grid, notice, horizon, hours, blackout."""
    assert refusal(Rules(), at(0, "09:00"), at(0, "09:10"), org_minutes=0) == "too_short"
    assert refusal(Rules(), at(0, "09:15"), at(0, "10:15")) == "not_on_granularity"
    assert refusal(Rules(), at(-1, "20:00"), at(-1, "21:00")) == "notice_too_short"
    evening = Rules(blackouts=((at(1, "17:00"), at(1, "20:00"), "停电"),), quota_hours_per_org=1)
    assert refusal(evening, at(1, "17:30"), at(1, "18:30")) == "outside_opening_hours"
    assert refusal(evening, at(1, "17:00"), at(1, "18:00"), org_minutes=60) == "in_blackout"
    assert refusal(evening, at(1, "16:00"), at(1, "17:00"), org_minutes=60) == "quota_exceeded"


def test_times_in_any_offset_mean_the_same_instant():
    """The same slot given in UTC is judged in local time (08:00 local = 00:00 UTC)."""
    start = at(2, "08:00").astimezone(UTC)
    assert refusal(Rules(), start, start + timedelta(minutes=30)) is None
    assert refusal(Rules(), start - timedelta(minutes=30), start) == "outside_opening_hours"


# ------------------------------------------------------------------------------------------- holds and the buffer

HOLD = (at(1, "10:00"), at(1, "11:00"))


@pytest.mark.parametrize(("buffer", "start", "end", "clash"), [
    (0, at(1, "09:00"), at(1, "10:00"), False),  # back to back before
    (0, at(1, "11:00"), at(1, "12:00"), False),  # back to back after
    (0, at(1, "10:30"), at(1, "11:30"), True),
    (0, at(1, "09:30"), at(1, "10:30"), True),
    (0, at(1, "09:00"), at(1, "12:00"), True),  # around it
    (0, at(1, "10:15"), at(1, "10:45"), True),  # inside it
    # buffer 30: the new booking's own hold runs to its end + 30 minutes, so it must end 30 minutes before a hold
    (30, at(1, "09:00"), at(1, "09:30"), False),
    (30, at(1, "09:00"), at(1, "10:00"), True),
    (30, at(1, "11:00"), at(1, "12:00"), False),  # the existing hold already carries its buffer
])
def test_conflicts_are_half_open_and_respect_the_buffer(buffer, start, end, clash):
    rules = Rules(buffer_minutes=buffer)
    found = conflicts(rules, start, end, [HOLD])
    assert bool(found) is clash
    if clash:
        assert found == [HOLD]


def test_blocked_by_holds_widens_each_hold_by_the_buffer_before_it():
    assert blocked_by_holds(Rules(buffer_minutes=15), [HOLD]) == [(at(1, "09:45"), at(1, "11:00"))]
    assert blocked_by_holds(Rules(), [HOLD]) == [HOLD]


# ------------------------------------------------------------------------------------------- free intervals, examples

def test_free_time_of_a_day_with_a_hold_and_a_blackout():
    rules = Rules(blackouts=((at(1, "15:00"), at(1, "16:00"), "校准"),))
    free = free_intervals(rules, [(at(1, "12:00"), at(1, "13:00"))], at(1, "00:00").date(), at(1, "00:00").date(),
                          NOW, TZ)
    assert free == [(at(1, "10:00"), at(1, "12:00")), (at(1, "13:00"), at(1, "15:00")),
                    (at(1, "16:00"), at(1, "18:00"))]


def test_free_time_respects_notice_horizon_and_weekends():
    week = free_intervals(Rules(max_horizon_days=3), [], date(2026, 12, 1), date(2026, 12, 7), NOW, TZ)
    # Tuesday is inside the notice; Wednesday from 10:00; Thursday; Friday until 10:00 (the horizon); no weekend;
    # Monday beyond the horizon.
    assert week == [(at(1, "10:00"), at(1, "18:00")), (at(2, "08:00"), at(2, "18:00")),
                    (at(3, "08:00"), at(3, "10:00"))]


def test_opening_intervals_follow_the_local_weekly_pattern():
    windows = opening_intervals(Rules(), date(2026, 11, 30), date(2026, 12, 6), TZ)
    assert len(windows) == 5
    assert windows[0] == (datetime(2026, 11, 30, 8, tzinfo=TZ), datetime(2026, 11, 30, 18, tzinfo=TZ))
    assert all(e - s == timedelta(hours=10) for s, e in windows)
    assert DEFAULT_OPENING[0] == Window(0, time(8), time(18))


# ------------------------------------------------------------------------------------------- properties

BASE = datetime(2026, 12, 1, tzinfo=TZ)
STEPS = (5, 10, 15, 20, 30, 60)


@st.composite
def windows(draw) -> tuple[Window, ...]:
    count = draw(st.integers(0, 8))
    out = []
    for _ in range(count):
        start = draw(st.integers(0, 47)) * 30
        end = draw(st.integers(start // 30 + 1, 48)) * 30
        out.append(Window(draw(st.integers(0, 6)), time(start // 60, start % 60),
                          time(23, 59) if end == 1440 else time(end // 60, end % 60)))
    return tuple(out)


def moment(minutes: int) -> datetime:
    return BASE + timedelta(minutes=minutes)


@st.composite
def intervals(draw, max_count: int = 6, span_days: int = 10) -> list[tuple[datetime, datetime]]:
    out = []
    for _ in range(draw(st.integers(0, max_count))):
        start = draw(st.integers(0, span_days * 1440))
        out.append((moment(start), moment(start + draw(st.integers(1, 600)))))
    return out


@st.composite
def rule_sets(draw) -> Rules:
    step = draw(st.sampled_from(STEPS))
    min_minutes = draw(st.integers(1, 8)) * step - draw(st.sampled_from((0, 0, step // 2)))
    max_minutes = max(min_minutes, draw(st.integers(1, 16)) * step)
    blackouts = tuple((s, e, "维护") for s, e in draw(intervals(max_count=3)))
    return Rules(opening_hours=draw(st.one_of(st.just(DEFAULT_OPENING), windows())), blackouts=blackouts,
                 min_minutes=min_minutes, max_minutes=max_minutes, granularity_minutes=step,
                 min_notice_hours=draw(st.integers(0, 72)), max_horizon_days=draw(st.integers(1, 12)),
                 buffer_minutes=draw(st.sampled_from((0, 0, 10, 15, 30, 60))))


nows = st.integers(-1440, 2 * 1440).map(moment)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def next_grid_point(moment_: datetime, step: int) -> datetime:
    local = moment_.astimezone(TZ)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local + timedelta(minutes=-(local.hour * 60 + local.minute) % step)


@SETTINGS
@given(rules=rule_sets(), holds=intervals(max_count=8), now=nows, data=st.data())
def test_a_slot_offered_as_free_is_bookable(rules, holds, now, data):
    """Every slot on the grid, of an allowed length, inside a free interval passes every rule and clashes with
    no hold (checked for a drawn slot and for the first and last slot of the drawn interval)."""
    free = free_intervals(rules, holds, date(2026, 12, 1), date(2026, 12, 10), now, TZ)
    step = rules.granularity_minutes
    candidates = []
    for start, end in free:
        first_start = next_grid_point(start, step)
        lengths = [n for n in range(step, rules.max_minutes + 1, step)
                   if n >= rules.min_minutes and first_start + timedelta(minutes=n) <= end]
        if lengths:
            candidates.append((first_start, end, lengths))
    assume(candidates)
    first_start, end, lengths = data.draw(st.sampled_from(candidates))
    length = data.draw(st.sampled_from(lengths))
    last_k = int((end - first_start - timedelta(minutes=length)).total_seconds() // 60) // step
    k = data.draw(st.integers(0, last_k))
    slots = {(first_start + timedelta(minutes=i * step), first_start + timedelta(minutes=i * step + n))
             for i, n in ((k, length), (0, lengths[0]), (0, lengths[-1]), (last_k, length))}
    for start, stop in slots:
        assert refusal(rules, start, stop, now=now) is None, (start, stop, free)
        assert conflicts(rules, start, stop, holds) == []


@SETTINGS
@given(rules=rule_sets(), holds=intervals(max_count=8), now=nows, data=st.data())
def test_a_bookable_slot_is_offered_as_free(rules, holds, now, data):
    """Every slot that passes every rule and clashes with no hold lies inside one free interval.

    Candidates are drawn on the grid inside the opening hours between the notice and the horizon, of an allowed
    length, so most are bookable unless a hold or blackout is in the way; check_request and conflicts decide."""
    step = rules.granularity_minutes
    earliest, latest = now + timedelta(hours=rules.min_notice_hours), now + timedelta(days=rules.max_horizon_days)
    lengths = [n for n in range(step, rules.max_minutes + 1, step) if n >= rules.min_minutes]
    spans = []
    for start, end in opening_intervals(rules, date(2026, 11, 30), date(2026, 12, 16), TZ):
        start, end = next_grid_point(max(start, earliest), step), min(end, latest)
        if lengths and start + timedelta(minutes=lengths[0]) <= end:
            spans.append((start, end))
    assume(spans)
    span_start, span_end = data.draw(st.sampled_from(spans))
    length = data.draw(st.sampled_from([n for n in lengths if span_start + timedelta(minutes=n) <= span_end]))
    last_k = int((span_end - span_start).total_seconds() // 60 - length) // step
    start = span_start + timedelta(minutes=data.draw(st.integers(0, last_k)) * step)
    end = start + timedelta(minutes=length)
    assert refusal(Rules(opening_hours=rules.opening_hours, min_minutes=rules.min_minutes,
                         max_minutes=rules.max_minutes, granularity_minutes=step,
                         min_notice_hours=rules.min_notice_hours, max_horizon_days=rules.max_horizon_days),
                   start, end, now=now) is None  # the candidate itself is well formed
    assume(refusal(rules, start, end, now=now) is None and not conflicts(rules, start, end, holds))
    free = free_intervals(rules, holds, start.astimezone(TZ).date(), end.astimezone(TZ).date(), now, TZ)
    assert any(s <= start and end <= e for s, e in free), (start, end, free)


@SETTINGS
@given(rules=rule_sets(), holds=intervals(max_count=8), now=nows)
def test_free_time_and_holds_never_overlap(rules, holds, now):
    """Free time never overlaps a hold widened by the buffer, a blackout, or time outside the opening hours."""
    free = free_intervals(rules, holds, date(2026, 12, 1), date(2026, 12, 11), now, TZ)
    cuts = blocked_by_holds(rules, holds) + [(s, e) for s, e, _r in rules.blackouts]
    windows_ = opening_intervals(rules, date(2026, 12, 1), date(2026, 12, 11), TZ)
    for s, e in free:
        assert s < e
        assert s >= now + timedelta(hours=rules.min_notice_hours)
        assert e <= now + timedelta(days=rules.max_horizon_days)
        assert not any(cs < e and s < ce for cs, ce in cuts)
        assert any(ws <= s and e <= we for ws, we in windows_)


def points(spans: list[tuple[int, int]]) -> set[int]:
    return {t for s, e in spans for t in range(s, e)}


int_spans = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)).map(lambda p: (p[0], p[0] + p[1])),
                     max_size=8)


def as_times(spans):
    return [(moment(s), moment(e)) for s, e in spans]


def as_minutes(spans):
    return [(int((s - BASE).total_seconds() // 60), int((e - BASE).total_seconds() // 60)) for s, e in spans]


@settings(max_examples=500, deadline=None)
@given(base=int_spans, cuts=int_spans)
def test_subtract_removes_exactly_the_cut_points(base, cuts):
    result = as_minutes(subtract(as_times([(s, e) for s, e in base if e > s]), as_times(cuts)))
    assert all(e > s for s, e in result)
    assert points(result) == points(base) - points(cuts)
    for s, e in result:  # each piece lies inside one of the original intervals
        assert any(bs <= s and e <= be for bs, be in base)


@settings(max_examples=500, deadline=None)
@given(spans=int_spans)
def test_merge_gives_sorted_disjoint_spans_covering_the_same_points(spans):
    spans = [(s, e) for s, e in spans if e > s]
    merged = as_minutes(merge(as_times(spans)))
    assert points(merged) == points(spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(merged))  # touching spans are joined too
    assert as_minutes(merge(as_times(merged))) == merged
