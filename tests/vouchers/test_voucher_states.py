"""Claim states as a type (vouchers.models.ClaimStatus) and their moves in one table (vouchers.workflow.TRANSITIONS);
the stored values, and so the database's check constraint, are the ones the claims always had."""

from types import SimpleNamespace

import pytest

from instrument_share.core.errors import InvalidState
from instrument_share.vouchers import workflow
from instrument_share.vouchers.models import (
    CLAIM_STATES,
    COMMITTED_STATES,
    GRANTED_STATES,
    ClaimStatus,
    VoucherClaim,
)

EXPECTED_MOVES = {
    "submit": ({"draft", "returned"}, "submitted"),
    "review": ({"submitted"}, "under_review"),
    "approve": ({"under_review"}, "approved"),
    "reject": ({"submitted", "under_review", "returned", "approved"}, "rejected"),
    "return": ({"submitted", "under_review"}, "returned"),
    "withdraw": ({"draft", "submitted", "under_review", "returned"}, "withdrawn"),
    "pay": ({"approved"}, "paid"),
}


def test_the_stored_values_are_unchanged():
    assert CLAIM_STATES == ("draft", "submitted", "under_review", "returned", "approved", "rejected", "withdrawn",
                            "paid")
    constraint = next(c for c in VoucherClaim.__table__.constraints if c.name.endswith("known_status"))
    assert str(constraint.sqltext) == ("status IN ('draft', 'submitted', 'under_review', 'returned', 'approved', "
                                       "'rejected', 'withdrawn', 'paid')")
    assert set(GRANTED_STATES) < set(COMMITTED_STATES) < set(ClaimStatus)
    assert ClaimStatus.draft not in COMMITTED_STATES


def test_the_transition_table():
    assert {step: (set(t.sources), t.target) for step, t in workflow.TRANSITIONS.items()} == EXPECTED_MOVES
    assert set(workflow.EDITABLE_STATES) == {"draft", "returned"}


@pytest.mark.parametrize("step", sorted(EXPECTED_MOVES))
def test_a_step_starts_only_from_its_sources(app, step):
    sources, target = EXPECTED_MOVES[step]
    for status in ClaimStatus:
        claim = SimpleNamespace(status=status.value)  # as loaded from the database: a plain string
        if status in sources:
            assert workflow.target_of(step, claim) == target
        else:
            with pytest.raises(InvalidState):
                workflow.target_of(step, claim)
