"""Random sequences of charges, payments, refunds, adjustments and adjustment decisions keep every ledger invariant
(issue 5, "Done when"; issue 13): refunds never exceed payments, payments never exceed what is owed, the balances
equal the sum of the entries and a model kept beside them, and an adjustment request changes nothing until a second
operator approves it.

Each example works on a fresh service record of one world (the database is not reset between examples), so the
unit-wide totals are checked against the table too.
"""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from instrument_share.core.errors import Conflict
from instrument_share.db import db
from instrument_share.ledger import entries
from instrument_share.ledger.models import AdjustmentRequest, RevenueEntry

from ..ledger_support import append, entry_count, make_ledger, standalone, sums_from_table

THRESHOLD = 50_000
EXAMPLES = int(os.environ.get("LEDGER_HYPOTHESIS_EXAMPLES", "25"))
amounts = st.integers(min_value=1, max_value=120_000)


def test_random_ledger_sequences_keep_every_invariant(app, factory, frozen_clock):
    app.config["ADJUSTMENT_APPROVAL_THRESHOLD_FEN"] = THRESHOLD
    lg = make_ledger(factory)
    operators = {"op1": lg.op1, "op2": lg.op2}

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.record = standalone(lg, minutes=47)  # 39,167 fen charged at once
            self.model = {"charge": self.record.fee_fen, "debit": 0, "credit": 0, "payment": 0, "refund": 0}
            self.pending: list[tuple[int, str]] = []  # (request id, requester)
            self.entries = entry_count()

        def _append(self, kind, amount, **extra):
            result = append(lg, self.record, kind, amount, **extra)
            if isinstance(result, RevenueEntry):
                self.entries += 1
            return result

        @rule(amount=amounts)
        def charge(self, amount):
            self._append("charge", amount)
            self.model["charge"] += amount

        def owed(self) -> int:
            model = self.model
            return model["charge"] + model["debit"] - model["credit"] - model["payment"] + model["refund"]

        @rule(amount=amounts)
        def pay(self, amount):
            if amount > self.owed():
                try:
                    self._append("payment", amount)
                except Conflict as refused:
                    assert refused.code == "payment_exceeds_owed"
                    assert refused.extra["owed_fen"] == max(self.owed(), 0)
                else:
                    raise AssertionError("a payment above what is owed was accepted")
            else:
                self._append("payment", amount)
                self.model["payment"] += amount

        @rule(amount=amounts)
        def refund(self, amount):
            refundable = self.model["payment"] - self.model["refund"]
            if amount > refundable:
                try:
                    self._append("refund", amount)
                except Conflict as refused:
                    assert refused.code == "refund_exceeds_payments"
                else:
                    raise AssertionError("a refund above the payments was accepted")
            else:
                self._append("refund", amount)
                self.model["refund"] += amount

        @rule(amount=amounts, direction=st.sampled_from(["credit", "debit"]), who=st.sampled_from(["op1", "op2"]))
        def adjust(self, amount, direction, who):
            result = self._append("adjustment", amount, direction=direction, reason="hypothesis",
                                  actor=operators[who])
            if amount > THRESHOLD:
                assert isinstance(result, AdjustmentRequest) and result.status == "pending_approval"
                self.pending.append((result.id, who))
            else:
                assert isinstance(result, RevenueEntry)
                self.model[direction] += amount

        @precondition(lambda self: self.pending)
        @rule(pick=st.integers(min_value=0), who=st.sampled_from(["op1", "op2"]),
              decision=st.sampled_from(["approve", "reject"]))
        def decide(self, pick, who, decision):
            request_id, requester = self.pending[pick % len(self.pending)]
            with db.transaction():
                request = db.session.get(AdjustmentRequest, request_id)
                actor = db.session.merge(operators[who])
                if decision == "reject":
                    entries.reject_adjustment(actor=actor, request=request, reason="no")
            if decision == "reject":
                self.pending.remove((request_id, requester))
                return
            try:
                with db.transaction():
                    request = db.session.get(AdjustmentRequest, request_id)
                    entries.approve_adjustment(actor=db.session.merge(operators[who]), request=request)
            except Conflict as refused:
                assert who == requester and refused.code == "second_operator_required"
                return
            assert who != requester
            self.pending.remove((request_id, requester))
            self.model[request.direction] += request.amount_fen
            self.entries += 1

        @invariant()
        def balances_add_up(self):
            table = sums_from_table(self.record.id)
            b = entries.balance(self.record.id)
            model, owed = self.model, self.owed()
            assert (b.charged_fen, b.debit_fen, b.credit_fen, b.paid_fen, b.refunded_fen, b.owed_fen) == (
                model["charge"], model["debit"], model["credit"], model["payment"], model["refund"], owed)
            assert table == {"charge": b.charged_fen, "debit": b.debit_fen, "credit": b.credit_fen,
                             "payment": b.paid_fen, "refund": b.refunded_fen, "owed": b.owed_fen}
            assert b.refunded_fen <= b.paid_fen

        @invariant()
        def only_approved_requests_reach_the_ledger(self):
            assert entry_count() == self.entries
            for request_id, _who in self.pending:
                assert db.session.get(AdjustmentRequest, request_id).status == "pending_approval"

        @invariant()
        def unit_totals_equal_the_table(self):
            assert entries.unit_balance(lg.unit.org.id).owed_fen == sums_from_table(unit_id=lg.unit.org.id)["owed"]

    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=12, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
