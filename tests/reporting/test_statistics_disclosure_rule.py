"""The disclosure rule on its own (reporting/disclosure.py): the threshold, the complementary cells a shown total
forces to be withheld, and withheld totals taking their parts along. Units are small integers."""

from instrument_share.reporting.disclosure import CITY, grid, node_of, publishable, withheld_cells

NOV = (2026, 4, 11)


def _hidden(base: dict, threshold: int = 3) -> set:
    return withheld_cells(grid(base), threshold)


def test_the_threshold_counts_distinct_units():
    assert publishable({1, 2, 3}, 3) and not publishable({1, 2}, 3) and not publishable(set(), 3)
    assert publishable({7}, 1) and publishable({7}, 0) and not publishable(set(), 0)  # never from no unit at all
    assert node_of(None) == () and node_of(2026, 4) == (2026, 4) and node_of(2026, month=11) == NOV


def test_one_small_district_takes_the_next_smallest_along():
    base = {("秦淮区", 2026, 11): {4}, ("玄武区", 2026, 11): {1, 2, 3}, ("鼓楼区", 2026, 11): {1, 2, 3, 5}}
    hidden = _hidden(base)
    assert ("秦淮区", (2026,)) in hidden  # one unit
    assert ("玄武区", (2026,)) in hidden  # else the city minus 鼓楼区 minus 玄武区 gives 秦淮区 back
    assert ("鼓楼区", (2026,)) not in hidden and (CITY, (2026,)) not in hidden and (CITY, NOV) not in hidden


def test_withheld_cells_must_together_come_from_enough_units():
    # Two one-unit districts withheld together would still single out two units (each knows its own share).
    base = {("甲区", 2026, 11): {1}, ("乙区", 2026, 11): {2}, ("丙区", 2026, 11): {3, 4, 5},
            ("丁区", 2026, 11): {6, 7, 8, 9}}
    hidden = _hidden(base)
    assert {("甲区", (2026,)), ("乙区", (2026,)), ("丙区", (2026,))} <= hidden
    assert ("丁区", (2026,)) not in hidden and (CITY, (2026,)) not in hidden


def test_a_lone_quarter_or_month_is_not_given_back_by_the_year():
    base = {(None, 2026, 8): {5}, ("鼓楼区", 2026, 11): {1, 2, 3, 5}}
    hidden = _hidden(base)
    assert (CITY, (2026, 3)) in hidden and (CITY, (2026, 4)) in hidden  # Q3 alone; Q4 = year − Q3
    assert (CITY, (2026,)) not in hidden
    assert (CITY, (2026, 3, 8)) in hidden and (CITY, NOV) in hidden  # a withheld quarter takes its months along
    assert ("鼓楼区", (2026, 4)) in hidden  # a withheld city cell takes its districts along


def test_a_total_whose_only_part_is_withheld_is_withheld_too():
    # 鼓楼区's year is its fourth quarter alone; that quarter is withheld (the city's is), so the year is too.
    base = {(None, 2026, 8): {5}, ("鼓楼区", 2026, 11): {1, 2, 3, 4}}
    hidden = _hidden(base)
    assert ("鼓楼区", (2026, 4)) in hidden and ("鼓楼区", (2026,)) in hidden
    assert (CITY, (2026,)) not in hidden  # five units, and no part alone withheld


def test_nothing_is_public_below_the_threshold_and_everything_at_one():
    base = {("玄武区", 2026, 11): {1}, ("鼓楼区", 2026, 11): {2}}
    assert _hidden(base) == set(grid(base))
    assert _hidden(base, threshold=1) == set()
    more = base | {("秦淮区", 2026, 11): {3, 4}, ("栖霞区", 2026, 11): {5, 6, 7}}
    assert ("秦淮区", (2026,)) not in _hidden(more, threshold=2)  # the two one-unit districts cover each other
    assert ("秦淮区", (2026,)) in _hidden(more) and ("栖霞区", (2026,)) not in _hidden(more)
