"""Signals other features listen to, so the ledger need not know them (vouchers watch refunds for clawback)."""

from blinker import Namespace

_signals = Namespace()
# Sent inside the transaction that appends a ledger entry: sender=RevenueEntry (already flushed, so it has an id).
entry_appended = _signals.signal("revenue-entry-appended")
