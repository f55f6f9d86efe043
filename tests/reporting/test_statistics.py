"""Open-sharing statistics: quarters of local days, sharing rate, revenue by entry date, ratings, groupings."""

from datetime import UTC, date, datetime

import pytest

from instrument_share.core.errors import ValidationFailed
from instrument_share.reporting import statistics as st
from instrument_share.reporting.periods import period, previous_quarter

from ..reporting_support import db_sum, entry, local, rate, record, scene


def test_a_service_counts_in_the_quarter_of_its_local_start_day(factory):
    s = scene(factory)
    op = s.unit_a.operator
    # 2026-09-30 23:30 in Nanjing is 15:30 UTC the same day: the third quarter.
    record(s.a1, s.sme1, start=datetime(2026, 9, 30, 15, 30, tzinfo=UTC), minutes=60, operator=op)
    # 2026-10-01 00:30 in Nanjing is still 2026-09-30 16:30 UTC: the fourth quarter, not the third.
    record(s.a1, s.sme1, start=datetime(2026, 9, 30, 16, 30, tzinfo=UTC), minutes=90, operator=op)
    q3 = st.totals(st.Scope(instrument_id=s.a1.id), period(2026, 3))
    q4 = st.totals(st.Scope(instrument_id=s.a1.id), period(2026, 4))
    assert (q3.effective_minutes, q3.services) == (60, 1)
    assert (q4.effective_minutes, q4.services) == (90, 1)
    year = st.totals(st.Scope(instrument_id=s.a1.id), period(2026))
    assert year.effective_minutes == 150


def test_sharing_rate_is_external_over_effective_half_up_and_zero_without_minutes(factory):
    s = scene(factory)
    op = s.unit_a.operator
    empty = st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 2))
    assert (empty.effective_minutes, empty.sharing_rate_bp, empty.rating_avg) == (0, 0, None)
    # own use 2 minutes, external 1 minute: 1/3 = 3333.33 bp → 3333; then 2/3 = 6666.67 → 6667
    record(s.a1, s.unit_a.org, start=local(2026, 5, 4), minutes=2, operator=op)
    record(s.a1, s.sme1, start=local(2026, 5, 5), minutes=1, operator=op)
    f = st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 2))
    assert (f.effective_minutes, f.external_minutes, f.sharing_rate_bp) == (3, 1, 3333)
    record(s.a2, s.sme2, start=local(2026, 5, 6), minutes=3, operator=op)
    f = st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 2))
    assert (f.effective_minutes, f.external_minutes, f.sharing_rate_bp) == (6, 4, 6667)
    assert st.sharing_rate_bp(1, 8) == 1250 and st.sharing_rate_bp(1, 20000) == 1  # 0.5 bp rounds up
    assert st.sharing_rate_bp(0, 0) == 0


def test_external_users_are_distinct_external_organisations(factory):
    s = scene(factory)
    op = s.unit_a.operator
    for start in (local(2026, 4, 1), local(2026, 4, 2)):
        record(s.a1, s.sme1, start=start, minutes=30, operator=op)
    record(s.a2, s.sme1, start=local(2026, 4, 3), minutes=30, operator=op)
    record(s.a2, s.sme2, start=local(2026, 4, 3), minutes=30, operator=op)
    record(s.a2, s.unit_a.org, start=local(2026, 4, 3), minutes=30, operator=op)  # own use: not a user served
    unit = st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 2))
    assert (unit.services, unit.external_services, unit.external_users) == (5, 4, 2)
    per = st.grouped("instrument", st.Scope(unit_id=s.unit_a.org.id), period(2026, 2))
    assert (per[s.a1.id].external_users, per[s.a2.id].external_users) == (1, 2)


def test_revenue_is_payments_minus_refunds_by_entry_date(factory):
    s = scene(factory)
    op = s.unit_a.operator
    # A service of the third quarter, paid partly in the third and partly in the fourth quarter.
    rec = record(s.a1, s.sme1, start=local(2026, 9, 20), minutes=120, operator=op, fee_fen=100_000)
    entry(rec, "charge", 100_000, date(2026, 9, 20), user=op)
    entry(rec, "payment", 60_000, date(2026, 9, 30), user=op)
    entry(rec, "payment", 40_000, date(2026, 10, 1), user=op)
    entry(rec, "refund", 15_001, date(2026, 10, 2), user=op)
    entry(rec, "adjustment", 999, date(2026, 10, 2), user=op, direction="credit")  # not revenue received
    scope = st.Scope(unit_id=s.unit_a.org.id)
    q3, q4 = st.totals(scope, period(2026, 3)), st.totals(scope, period(2026, 4))
    assert (q3.revenue_fen, q3.charges_fen, q3.effective_minutes) == (60_000, 100_000, 120)
    assert (q4.revenue_fen, q4.payments_fen, q4.refunds_fen, q4.effective_minutes) == (24_999, 40_000, 15_001, 0)
    assert st.totals(scope).revenue_fen == 84_999
    q4_range = (date(2026, 10, 1), date(2027, 1, 1))
    assert q4.revenue_fen == db_sum("payment", entry_date=q4_range) - db_sum("refund", entry_date=q4_range)
    by_instrument = st.grouped("instrument", st.CITY, period(2026, 4))
    assert by_instrument[s.a1.id].revenue_fen == 24_999
    # The user organisation's view: the same entries from its side.
    assert st.totals(st.Scope(organization_id=s.sme1.id), period(2026, 4)).revenue_fen == 24_999
    assert st.totals(st.Scope(organization_id=s.sme2.id), period(2026, 4)).revenue_fen == 0


def test_ratings_average_per_instrument_and_unit(factory):
    s = scene(factory)
    op = s.unit_a.operator
    scores = {s.a1: [5, 4], s.a2: [3]}
    for instrument, marks in scores.items():
        for score in marks:
            rec = record(instrument, s.sme1, start=local(2026, 8, 3), minutes=60, operator=op)
            rate(rec, score, user=s.sme1_user)
    per = st.grouped("instrument", st.Scope(unit_id=s.unit_a.org.id), period(2026, 3))
    assert str(per[s.a1.id].rating_avg) == "4.50" and str(per[s.a2.id].rating_avg) == "3.00"
    unit = st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 3))
    assert (str(unit.rating_avg), unit.rating_count) == ("4.00", 3)
    assert st.totals(st.Scope(unit_id=s.unit_a.org.id), period(2026, 4)).rating_count == 0
    assert unit.as_json()["rating_avg"] == 4.0


def test_groupings_by_unit_district_and_month_add_up_to_the_city(factory):
    s = scene(factory)
    rows = [(s.a1, s.sme1, local(2026, 7, 1, 0, 5), 60), (s.a2, s.sme2, local(2026, 8, 31, 23, 55), 45),
            (s.b1, s.sme1, local(2026, 9, 15), 30), (s.b1, s.unit_b.org, local(2026, 9, 16), 15)]
    for instrument, org, start, minutes in rows:
        op = s.unit_a.operator if instrument.owner_id == s.unit_a.org.id else s.unit_b.operator
        rec = record(instrument, org, start=start, minutes=minutes, operator=op)
        entry(rec, "payment", minutes * 100, start.date(), user=op)
    q3 = period(2026, 3)
    city = st.totals(st.CITY, q3)
    assert (city.effective_minutes, city.external_minutes, city.revenue_fen) == (150, 135, 15_000)
    by_unit = st.grouped("unit", st.CITY, q3)
    assert by_unit[s.unit_a.org.id].effective_minutes == 105 and by_unit[s.unit_b.org.id].effective_minutes == 45
    by_district = st.grouped("district", st.CITY, q3)
    assert by_district["玄武区"].effective_minutes == 105 and by_district["鼓楼区"].effective_minutes == 45
    assert by_district["玄武区"].revenue_fen == 10_500
    assert st.totals(st.Scope(district="鼓楼区"), q3).external_minutes == 45
    months = st.by_month(st.CITY, q3)
    assert [(m.isoformat(), f.effective_minutes) for m, f in months] == [
        ("2026-07-01", 60), ("2026-08-01", 45), ("2026-09-01", 45)]
    assert sum(f.revenue_fen for _m, f in months) == city.revenue_fen


def test_periods_refuse_nonsense():
    with pytest.raises(ValidationFailed) as exc:
        period(None, 2)
    assert "year" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        period(2026, 5)
    assert "quarter" in exc.value.fields
    with pytest.raises(ValidationFailed):
        period(1800)
    assert period(2026, 4).end == date(2027, 1, 1)
    assert previous_quarter(date(2027, 1, 1)) == (2026, 4) and previous_quarter(date(2026, 7, 1)) == (2026, 2)


def test_indicators(factory):
    s = scene(factory)
    rec = record(s.a1, s.sme1, start=local(2026, 5, 1), minutes=90, operator=s.unit_a.operator)
    rate(rec, 4, user=s.sme1_user)
    data = st.indicators(st.totals(st.CITY, period(2026)), st.CITY)
    assert data["effective_machine_hours"] == "1.5" and data["external_service_hours"] == "1.5"
    assert data["sharing_rate_bp"] == 10_000 and data["users_served"] == 1 and data["rating_avg"] == 4.0
    assert data["open_instruments"] == 3 and data["average_effective_hours_per_open_instrument"] == "0.5"
