"""The per-app cache behind remembered search totals and dashboard figures: age limit, bound, recency."""

from instrument_share.core import ttl_cache
from instrument_share.core.ttl_cache import MISSING, TTLCache


def test_an_entry_is_served_until_it_is_older_than_asked(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ttl_cache.time, "monotonic", lambda: now[0])
    cache = TTLCache(max_entries=10)
    cache.put("质谱", 0)  # a total of zero is a value, not a miss
    now[0] += 59
    assert cache.get("质谱", 60) == 0
    now[0] += 2
    assert cache.get("质谱", 60) is MISSING
    assert cache.get("光谱", 60) is MISSING


def test_past_the_bound_the_least_recently_used_entry_goes():
    cache = TTLCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a", 60) == 1  # "a" is now more recent than "b"
    cache.put("c", 3)
    assert cache.get("b", 60) is MISSING
    assert (cache.get("a", 60), cache.get("c", 60)) == (1, 3)
    assert len(cache.entries) == 2


def test_each_app_has_its_own_cache(app, tmp_path):
    from ..conftest import make_test_app

    other = make_test_app(app.config["DATABASE_URL"], tmp_path / "other")
    with app.app_context():
        ttl_cache.app_cache("search_totals", 4).put("k", 1)
        assert ttl_cache.app_cache("search_totals", 4).get("k", 60) == 1
    with other.app_context():
        assert ttl_cache.app_cache("search_totals", 4).get("k", 60) is MISSING


def test_get_or_compute_computes_only_a_missing_or_expired_value(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(ttl_cache.time, "monotonic", lambda: now[0])
    cache, calls = TTLCache(max_entries=10), []

    def count():
        calls.append(1)
        return len(calls) - 1  # 0 the first time: a falsy value is still a value

    assert cache.get_or_compute("质谱", 60, count) == 0
    now[0] += 59
    assert cache.get_or_compute("质谱", 60, count) == 0 and len(calls) == 1
    now[0] += 2
    assert cache.get_or_compute("质谱", 60, count) == 1 and len(calls) == 2
