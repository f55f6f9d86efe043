"""The subsidy computation (issue 6, "Computation"): hand-computed tables and hypothesis properties.

compute.py is pure, so these tests need no database; the database-backed cases (related providers, refunds in the
ledger, lines already claimed) are in test_voucher_eligibility.py.
"""

import random
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instrument_share.vouchers.compute import (
    Entry,
    Headroom,
    LineInput,
    PolicyNumbers,
    compute_subsidy,
    eligible_amount,
    format_e4,
    round_e4_half_up,
)

BIG = 10**12
NO_CAPS = Headroom(BIG, BIG, None, BIG)
NUMBERS = PolicyNumbers(BIG, BIG, None, BIG, 0)


def lines(*pairs) -> list[LineInput]:
    return [LineInput(i + 1, fen, bp) for i, (fen, bp) in enumerate(pairs)]


# (case, [(eligible_fen, rate_bp)], raw_fen, exact line subsidies)
ROUNDING = [
    ("half a fen rounds up", [(1, 5000)], 1, ["0.5000"]),
    ("one and a half fen rounds up", [(3, 5000)], 2, ["1.5000"]),
    ("just under half rounds down", [(1, 4999)], 0, ["0.4999"]),
    ("sum rounded once: two halves make one fen, not two", [(1, 5000), (1, 5000)], 1, ["0.5000", "0.5000"]),
    ("sum rounded once: three thirds make one fen, not zero", [(1, 3333), (1, 3334), (1, 3333)], 1,
     ["0.3333", "0.3334", "0.3333"]),
    ("api example: 123457 fen at 50 bp", [(123_457, 50)], 617, ["617.2850"]),
    ("odd amount at 50%", [(123_457, 5000)], 61_729, ["61728.5000"]),
    ("defence line at 70% beside a civilian one at 50%", [(123_457, 5000), (123_457, 7000)], 148_148,
     ["61728.5000", "86419.9000"]),
    ("defence rate 100%", [(99_999, 10000)], 99_999, ["99999.0000"]),
    ("nothing", [], 0, []),
]


@pytest.mark.parametrize(("case", "pairs", "raw_fen", "exact"), ROUNDING, ids=[r[0] for r in ROUNDING])
def test_rounding_table(case, pairs, raw_fen, exact):
    trace = compute_subsidy(lines(*pairs), NO_CAPS, NUMBERS)
    assert [ln.line_subsidy for ln in trace.lines] == exact
    assert trace.raw_fen == raw_fen
    assert trace.subsidy_fen == raw_fen
    assert [c.name for c in trace.caps] == ["per_claim", "enterprise", "budget"]


# raw 100,000 fen (200,000 at 50%); each row makes a different cap the binding one.
CAPS = [
    ("per-claim cap binds", Headroom(80_000, 90_000, 95_000, 99_000), 80_000, "per_claim"),
    ("enterprise headroom binds", Headroom(100_000, 70_000, 95_000, 99_000), 70_000, "enterprise"),
    ("group headroom binds", Headroom(100_000, 100_000, 60_000, 99_000), 60_000, "group"),
    ("budget headroom binds", Headroom(100_000, 100_000, 100_000, 50_000), 50_000, "budget"),
    ("nothing binds", Headroom(150_000, 150_000, None, 150_000), 100_000, None),
    ("budget exhausted gives zero", Headroom(150_000, 150_000, None, 0), 0, "budget"),
]


@pytest.mark.parametrize(("case", "room", "subsidy", "binding"), CAPS, ids=[c[0] for c in CAPS])
def test_each_cap_in_turn(case, room, subsidy, binding):
    trace = compute_subsidy(lines((200_000, 5000)), room, NUMBERS)
    assert trace.raw_fen == 100_000
    assert trace.subsidy_fen == subsidy
    names = [c.name for c in trace.caps]
    assert names == (["per_claim", "enterprise", "group", "budget"] if room.group_fen is not None
                     else ["per_claim", "enterprise", "budget"])
    lowered = [c.name for c in trace.caps if c.after_fen < c.before_fen]
    assert lowered == ([binding] if binding else [])
    for before, after in zip(trace.caps, trace.caps[1:], strict=False):
        assert after.before_fen == before.after_fen  # each cap starts from the previous one's result


def test_headroom_from_committed_never_below_zero():
    numbers = PolicyNumbers(per_claim_cap_fen=50_000, enterprise_annual_cap_fen=30_000_000,
                            group_annual_cap_fen=40_000_000, budget_fen=1_000_000, min_claim_fen=0)
    room = Headroom.from_committed(numbers, enterprise_committed_fen=29_990_000, group_committed_fen=45_000_000,
                                   year_committed_fen=999_000)
    assert room == Headroom(50_000, 10_000, 0, 1_000)
    no_group = PolicyNumbers(50_000, 30_000_000, None, 1_000_000, 0)
    assert Headroom.from_committed(no_group, enterprise_committed_fen=0, group_committed_fen=None,
                                   year_committed_fen=0).group_fen is None


@pytest.mark.parametrize(("subsidy_pairs", "minimum", "submittable"), [
    ([(2_000, 5000)], 1_000, True),  # exactly the minimum
    ([(1_998, 5000)], 1_000, False),  # 999 fen
    ([(1, 4000)], 0, False),  # 0.4 fen rounds to zero: never submittable
    ([], 0, False),
])
def test_minimum_claim_check(subsidy_pairs, minimum, submittable):
    trace = compute_subsidy(lines(*subsidy_pairs), NO_CAPS, PolicyNumbers(BIG, BIG, None, BIG, minimum))
    assert trace.submittable is submittable
    assert trace.to_json()["min_claim_fen"] == minimum


def test_trace_round_trips_its_headroom_for_clawback():
    room = Headroom(80_000, 70_000, 60_000, 50_000)
    trace = compute_subsidy(lines((200_000, 5000)), room, NUMBERS)
    assert Headroom.from_trace(trace.to_json()) == room
    assert trace.to_json()["caps"][2] == {"name": "group", "limit_fen": 60_000, "before_fen": 70_000,
                                          "after_fen": 60_000}


def e(i, kind, fen, year=2026, direction=None):
    return Entry(i, kind, direction, fen, year)


# (case, entries, expected eligible fen, ids used)
AMOUNTS = [
    ("paid in full", [e(1, "charge", 10_000), e(2, "payment", 10_000)], 10_000, (1, 2)),
    ("partly paid", [e(1, "charge", 10_000), e(2, "payment", 4_000)], 4_000, (1, 2)),
    ("refund of last year's payment still counts",
     [e(1, "charge", 10_000), e(2, "payment", 10_000), e(3, "refund", 3_000, 2027)], 7_000, (1, 2, 3)),
    ("payment outside the year is left out", [e(1, "charge", 10_000), e(2, "payment", 6_000, 2025),
                                              e(3, "payment", 4_000)], 4_000, (1, 3)),
    ("only payments outside the year", [e(1, "charge", 10_000), e(2, "payment", 10_000, 2027)], 0, (1,)),
    ("overpaid is capped at the charge", [e(1, "charge", 10_000), e(2, "payment", 12_000)], 10_000, (1, 2)),
    ("credit adjustment lowers the charge",
     [e(1, "charge", 10_000), e(2, "payment", 10_000), e(3, "adjustment", 2_500, direction="credit")], 7_500,
     (1, 2, 3)),
    ("debit adjustment raises the charge",
     [e(1, "charge", 10_000), e(2, "payment", 11_000), e(3, "adjustment", 1_000, direction="debit")], 11_000,
     (1, 2, 3)),
    ("refund larger than the payments", [e(1, "charge", 10_000), e(2, "payment", 1_000), e(3, "refund", 5_000)],
     0, (1, 2, 3)),
    ("no entries", [], 0, ()),
]


@pytest.mark.parametrize(("case", "entries", "fen", "used"), AMOUNTS, ids=[a[0] for a in AMOUNTS])
def test_eligible_amount_table(case, entries, fen, used):
    assert eligible_amount(entries, 2026) == (fen, used)


# ------------------------------------------------------------------------------------------- properties

line_st = st.tuples(st.integers(0, 10**10), st.integers(0, 10000))
room_st = st.builds(Headroom, st.integers(0, 10**11), st.integers(0, 10**11),
                    st.one_of(st.none(), st.integers(0, 10**11)), st.integers(0, 10**11))


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(line_st, max_size=30), room=room_st, minimum=st.integers(0, 10**6))
def test_subsidy_never_exceeds_any_cap(pairs, room, minimum):
    trace = compute_subsidy(lines(*pairs), room, PolicyNumbers(BIG, BIG, None, BIG, minimum))
    assert 0 <= trace.subsidy_fen <= trace.raw_fen
    for name, limit in room.steps():
        assert trace.subsidy_fen <= limit, name
    assert trace.subsidy_fen == min([trace.raw_fen] + [limit for _, limit in room.steps()])
    assert trace.submittable == (trace.subsidy_fen > 0 and trace.subsidy_fen >= minimum)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(line_st, max_size=30), room=room_st, seed=st.integers(0, 2**32))
def test_deterministic_and_order_free(pairs, room, seed):
    first = compute_subsidy(lines(*pairs), room, NUMBERS)
    assert compute_subsidy(lines(*pairs), room, NUMBERS) == first
    shuffled = lines(*pairs)
    random.Random(seed).shuffle(shuffled)
    again = compute_subsidy(shuffled, room, NUMBERS)
    assert (again.raw_fen, again.subsidy_fen, again.caps) == (first.raw_fen, first.subsidy_fen, first.caps)


@settings(max_examples=500, deadline=None)
@given(pairs=st.lists(line_st, max_size=30))
def test_rounding_happens_once_half_up(pairs):
    trace = compute_subsidy(lines(*pairs), NO_CAPS, NUMBERS)
    exact = sum((Fraction(fen * bp, 10000) for fen, bp in pairs), Fraction(0))
    expected = int((Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal(1), ROUND_HALF_UP)) \
        if exact.denominator != 1 else int(exact)
    assert trace.raw_fen == expected
    assert abs(trace.raw_fen - exact) <= Fraction(1, 2)
    # Exactly half a fen always goes up.
    assert (trace.raw_fen - exact == Fraction(1, 2)) or (exact - trace.raw_fen < Fraction(1, 2))
    assert [Decimal(ln.line_subsidy) for ln in trace.lines] == [Decimal(fen * bp) / 10000 for fen, bp in pairs]


@st.composite
def season(draw):
    """A policy and a run of claims by a few enterprises of one group, submitted one after another."""
    numbers = PolicyNumbers(per_claim_cap_fen=draw(st.integers(0, 10**6)),
                            enterprise_annual_cap_fen=draw(st.integers(0, 2 * 10**6)),
                            group_annual_cap_fen=draw(st.one_of(st.none(), st.integers(0, 3 * 10**6))),
                            budget_fen=draw(st.integers(0, 4 * 10**6)), min_claim_fen=draw(st.integers(0, 1000)))
    claims = draw(st.lists(st.tuples(st.integers(0, 3), st.lists(line_st.map(lambda p: (p[0] % 10**7, p[1])),
                                                                   min_size=1, max_size=5)), max_size=25))
    return numbers, claims


@settings(max_examples=300, deadline=None)
@given(data=season())
def test_committed_never_exceeds_caps_or_budget(data):
    numbers, claims = data
    per_org: dict[int, int] = {}
    for org, pairs in claims:
        room = Headroom.from_committed(numbers, enterprise_committed_fen=per_org.get(org, 0),
                                       group_committed_fen=sum(per_org.values()),
                                       year_committed_fen=sum(per_org.values()))
        trace = compute_subsidy(lines(*pairs), room, numbers)
        if trace.submittable:
            per_org[org] = per_org.get(org, 0) + trace.subsidy_fen
            assert trace.subsidy_fen <= numbers.per_claim_cap_fen
        assert all(total <= numbers.enterprise_annual_cap_fen for total in per_org.values())
        assert sum(per_org.values()) <= numbers.budget_fen
        if numbers.group_annual_cap_fen is not None:
            assert sum(per_org.values()) <= numbers.group_annual_cap_fen


def test_format_e4_and_single_rounding_helpers():
    assert format_e4(6_172_835) == "617.2835"
    assert format_e4(5) == "0.0005"
    assert [round_e4_half_up(v) for v in (0, 4_999, 5_000, 14_999, 15_000)] == [0, 0, 1, 1, 2]
    with pytest.raises(ValueError):
        round_e4_half_up(-1)
