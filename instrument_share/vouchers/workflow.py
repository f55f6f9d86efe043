"""A claim's life after submission: review, approval (two auditors above a threshold), public notice, rejection,
return for more information, withdrawal and payout.

Who may take each step is decided in access.py; this module holds the steps. Services never commit; each transition
writes an audit entry carrying the claim's trace. The reservation made at submission stays with the claim until it is
rejected or withdrawn, which release its service records.
"""

import json
from datetime import date, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, ValidationFailed
from ..db import db
from . import access
from .models import ClaimStatus, VoucherApproval, VoucherClaim, VoucherClaimedRecord
from .year_lock import lock_year

REASON_MAX = 1000


class Transition(NamedTuple):
    sources: frozenset[ClaimStatus]
    target: ClaimStatus


S = ClaimStatus
# Every move of a claim: the states it may start from, and where it leads. Rejecting an approved claim is further
# limited to its public notice (reject); a first approval above the threshold leaves the claim under review (approve).
TRANSITIONS: dict[str, Transition] = {
    "submit": Transition(frozenset({S.draft, S.returned}), S.submitted),  # claims.submit
    "review": Transition(frozenset({S.submitted}), S.under_review),
    "approve": Transition(frozenset({S.under_review}), S.approved),
    "reject": Transition(frozenset({S.submitted, S.under_review, S.returned, S.approved}), S.rejected),
    "return": Transition(frozenset({S.submitted, S.under_review}), S.returned),
    "withdraw": Transition(frozenset({S.draft, S.submitted, S.under_review, S.returned}), S.withdrawn),
    "pay": Transition(frozenset({S.approved}), S.paid),
}
# A claim is changed (lines, evidence) only while it can be submitted.
EDITABLE_STATES = TRANSITIONS["submit"].sources


def setting(name: str) -> int:
    """VOUCHER_TWO_AUDITOR_THRESHOLD_FEN, VOUCHER_NOTICE_DAYS or VOUCHER_RETURNED_KEEP_DAYS (config.py)."""
    return int(current_app.config[name])


def target_of(step: str, claim: VoucherClaim) -> ClaimStatus:
    """The state `step` leads the claim to, or InvalidState when the step cannot start from its present state."""
    transition = TRANSITIONS[step]
    if claim.status not in transition.sources:
        raise InvalidState(_("Not possible while the claim is %(status)s.", status=claim.status))
    return transition.target


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Give the reason."), fields={"reason": _("required")})
    if len(text) > REASON_MAX:
        raise ValidationFailed(_("The reason is too long."), fields={"reason": _("at most 1000 characters")})
    return text


def in_notice(claim: VoucherClaim) -> bool:
    return claim.status == ClaimStatus.approved and claim.notice_until is not None and now_utc() < claim.notice_until


# ---------------------------------------------------------------- audit and reservation

def _record(action: str, actor, claim: VoucherClaim, before: str, **details) -> None:
    claim.updated_at = now_utc()
    db.session.flush()
    audit.append(f"voucher.claim_{action}", actor=actor, organization_id=claim.organization_id,
                 object_type="voucher_claim", object_id=claim.id,
                 details={"from": before, "to": claim.status, "subsidy_fen": claim.subsidy_fen,
                          "trace": json.loads(claim.submitted_trace or claim.trace or "{}")} | details)


def release_records(claim: VoucherClaim) -> int:
    """Free the claim's service records for other claims (rejection and withdrawal)."""
    result = db.session.execute(delete(VoucherClaimedRecord).where(VoucherClaimedRecord.claim_id == claim.id))
    return result.rowcount or 0


# ---------------------------------------------------------------- transitions

def review(*, actor, claim: VoucherClaim) -> VoucherClaim:
    """An auditor takes the claim."""
    access.require_deciding_auditor(actor, claim)
    before, claim.status = claim.status, target_of("review", claim)
    claim.reviewer_id, claim.reviewed_at = actor.id, now_utc()
    from . import fraud_signals

    codes = fraud_signals.refresh(claim)
    _record("reviewed", actor, claim, before, signals=codes)
    return claim


def approve(*, actor, claim: VoucherClaim) -> VoucherClaim:
    """Approve; above the threshold the first approval is only recorded and a different auditor must follow."""
    access.require_deciding_auditor(actor, claim)
    lock_year(claim.year)  # serialises with every submission of the year, so the reservation cannot move meanwhile
    db.session.refresh(claim)
    approved = target_of("approve", claim)
    approvals = list(db.session.scalars(select(VoucherApproval).where(VoucherApproval.claim_id == claim.id)))
    if any(a.auditor_id == actor.id for a in approvals):
        raise Conflict(_("You already approved this claim: a different auditor must approve it too."),
                       code="second_auditor_required")
    db.session.add(VoucherApproval(claim_id=claim.id, auditor_id=actor.id, created_at=now_utc()))
    needed = 2 if claim.subsidy_fen > setting("VOUCHER_TWO_AUDITOR_THRESHOLD_FEN") else 1
    before = claim.status
    if len(approvals) + 1 < needed:
        _record("first_approval", actor, claim, before, approvals=len(approvals) + 1, needed=needed)
        return claim
    now = now_utc()
    claim.status, claim.decided_at, claim.decided_by_id = approved, now, actor.id
    # From the approval's whole second, as both are shown: the period is exactly the days the notice states.
    claim.notice_until = now.replace(microsecond=0) + timedelta(days=setting("VOUCHER_NOTICE_DAYS"))
    _record("approved", actor, claim, before, approvals=len(approvals) + 1, needed=needed,
            notice_until=claim.notice_until.isoformat())
    return claim


def reject(*, actor, claim: VoucherClaim, reason: str | None) -> VoucherClaim:
    """Refuse the claim; during the public notice an auditor may still reject it after an objection."""
    access.require_deciding_auditor(actor, claim)
    text = _reason(reason)
    if claim.status == ClaimStatus.approved and not in_notice(claim):
        raise InvalidState(_("The public notice has ended: the claim can no longer be rejected."))
    before, claim.status, claim.reason = claim.status, target_of("reject", claim), text
    claim.decided_at, claim.decided_by_id = now_utc(), actor.id
    released = release_records(claim)
    _record("rejected", actor, claim, before, reason=text, released_records=released)
    return claim


def return_claim(*, actor, claim: VoucherClaim, reason: str | None) -> VoucherClaim:
    """Send the claim back for more information; it keeps its reservation for the configured days."""
    access.require_deciding_auditor(actor, claim)
    text = _reason(reason)
    before, claim.status, claim.reason, claim.returned_at = claim.status, target_of("return", claim), text, now_utc()
    db.session.execute(delete(VoucherApproval).where(VoucherApproval.claim_id == claim.id))
    _record("returned", actor, claim, before, reason=text,
            keep_until=(claim.returned_at + timedelta(days=setting("VOUCHER_RETURNED_KEEP_DAYS"))).isoformat())
    return claim


def withdraw(*, actor, claim: VoucherClaim, reason: str | None = None, automatic: bool = False) -> VoucherClaim:
    """The claimant withdraws before approval (or the job does, for a claim returned too long ago)."""
    if not automatic:
        access.require_withdrawer(actor, claim)
    before, claim.status = claim.status, target_of("withdraw", claim)
    if reason:
        claim.reason = reason
    released = release_records(claim)
    _record("withdrawn", actor, claim, before, automatic=automatic, released_records=released)
    return claim


def pay(*, actor, claim: VoucherClaim, paid_on: date, payment_ref: str) -> VoucherClaim:
    """A commission officer records the payment, never before the public notice ends."""
    access.require_paying_officer(actor, claim)
    ref = (payment_ref or "").strip()
    if not ref or len(ref) > 100:
        raise ValidationFailed(_("Give the payment reference (at most 100 characters)."),
                               fields={"payment_ref": _("required, at most 100 characters")})
    paid = target_of("pay", claim)
    if claim.notice_until is None or now_utc() < claim.notice_until:
        raise Conflict(_("The public notice has not ended yet."), code="notice_not_ended")
    before = claim.status
    claim.status, claim.paid_on, claim.payment_ref, claim.paid_by_id = paid, paid_on, ref, actor.id
    _record("paid", actor, claim, before, paid_on=paid_on.isoformat(), payment_ref=ref)
    return claim
