"""Signals other features listen to, so the catalogue need not know them."""

from blinker import Namespace

_signals = Namespace()
# Sent inside the transaction that suspends, revokes, expires or retires a listing: sender=instrument, reason=text.
instrument_unavailable = _signals.signal("instrument-unavailable")
