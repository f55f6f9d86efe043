"""The vouchers' hooks in other features are connected by create_app (vouchers/listeners.register), not as a side
effect of importing some module: the clawback must not depend on the HTTP API being loaded."""

import subprocess
import sys
from pathlib import Path

from instrument_share.ledger.signals import entry_appended
from instrument_share.vouchers import clawback, listeners

ROOT = Path(__file__).resolve().parents[2]

FRESH_PROCESS = """
import sys
import instrument_share.models  # every table, and every voucher module the clawback uses
from instrument_share.ledger.signals import entry_appended
from instrument_share.vouchers import clawback, fraud_signals, listeners, year_totals, workflow

assert "instrument_share.api" not in sys.modules, "the vouchers package must not need the API"
assert not listeners.registered(), "importing the voucher modules connects nothing"
assert not entry_appended.receivers, "the clawback is not connected by an import"

listeners.register()
listeners.register()  # create_app runs once per app; many apps share a process
assert listeners.registered()
assert list(entry_appended.receivers.values()) == [clawback.on_entry_appended]
print("ok")
"""


def test_importing_voucher_modules_connects_nothing_and_register_connects_once():
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_create_app_registers_the_voucher_listeners(app):
    assert listeners.registered()
    assert clawback.on_entry_appended in entry_appended.receivers_for(object())
