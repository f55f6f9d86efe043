"""Every hook the vouchers feature has in other parts of the application, connected in one explicit place.

create_app() calls register(); no voucher rule depends on which module happened to be imported first. Connecting
twice is harmless (each hook is checked before it is added), since tests and tools build many apps in one process.
"""

from sqlalchemy import event
from sqlalchemy.orm import Session

from ..db import db
from ..ledger.signals import entry_appended
from . import clawback, fraud_signals, year_totals

# (target, event name, function) for SQLAlchemy's session events.
SESSION_HOOKS = (
    # The committed total of each year follows every flushed change of a claim, whichever session flushes it.
    (Session, "before_flush", year_totals.remember_changes),
    (Session, "after_flush", year_totals.apply_changes),
    # The fraud signals of a claim are stored by the transaction that submits it, whoever submits.
    (db.session.session_factory, "after_flush", fraud_signals.note_submissions),
    (db.session.session_factory, "before_commit", fraud_signals.signal_submissions),
    (db.session.session_factory, "after_rollback", fraud_signals.forget_submissions),
)


def register() -> None:
    """Connect the clawback to the ledger's refunds and the session hooks of year totals and fraud signals."""
    # A refund touching an approved or paid claim flags its clawback, in the ledger's transaction. A strong
    # reference: the receiver must live as long as the process, not as long as some module keeps it.
    entry_appended.connect(clawback.on_entry_appended, weak=False)
    for target, name, hook in SESSION_HOOKS:
        if not event.contains(target, name, hook):
            event.listen(target, name, hook)


def registered() -> bool:
    """Whether register() has run in this process (every hook is connected)."""
    return clawback.on_entry_appended in entry_appended.receivers_for(None) and all(
        event.contains(target, name, hook) for target, name, hook in SESSION_HOOKS)
