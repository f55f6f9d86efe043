"""A small in-process cache of computed results: entries expire after a given age, and past a bound the least
recently used go first. One per Flask app (so each test's app has its own), shared by that app's threads."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app

MISSING = object()


class TTLCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, max_age_seconds: float):
        """The value stored under key if younger than max_age_seconds, else MISSING."""
        with self.lock:
            hit = self.entries.get(key)
            if hit is None or time.monotonic() - hit[1] > max_age_seconds:
                return MISSING
            self.entries.move_to_end(key)
            return hit[0]

    def get_or_compute(self, key: Hashable, max_age_seconds: float, compute: Callable[[], object]):
        """The stored value if young enough, else compute() stored and returned (not under the lock: two threads
        may both compute a missing value, and the later one's is kept)."""
        value = self.get(key, max_age_seconds)
        if value is MISSING:
            value = compute()
            self.put(key, value)
        return value

    def put(self, key: Hashable, value) -> None:
        with self.lock:
            self.entries[key] = (value, time.monotonic())
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


def app_cache(name: str, max_entries: int) -> TTLCache:
    """The app's cache of this name, made on first use."""
    return current_app.extensions.setdefault(name, TTLCache(max_entries))
