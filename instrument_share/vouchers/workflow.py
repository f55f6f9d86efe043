"""A claim's life after submission: review, approval (two auditors above a threshold), public notice, rejection,
return for more information, withdrawal and payout.

Services never commit; each transition writes an audit entry carrying the claim's trace. The reservation made at
submission stays with the claim until it is rejected or withdrawn, which release its service records.
"""

import json
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from ..accounts.access import is_commission
from ..accounts.roles import Role
from ..audit import chain as audit
from ..audit.models import AuditEntry
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from ..db import db
from ..ledger.models import ServiceRecord
from .claims import lock_year
from .models import VoucherApproval, VoucherClaim, VoucherClaimedRecord, VoucherClaimLine

BEFORE_APPROVAL = ("draft", "submitted", "under_review", "returned")
REASON_MAX = 1000


def setting(name: str) -> int:
    """VOUCHER_TWO_AUDITOR_THRESHOLD_FEN, VOUCHER_NOTICE_DAYS or VOUCHER_RETURNED_KEEP_DAYS (config.py)."""
    return int(current_app.config[name])


# ---------------------------------------------------------------- reading and permissions

def may_read(actor, claim: VoucherClaim) -> bool:
    return actor is not None and (actor.organization_id == claim.organization_id or is_commission(actor))


def visible_claim(actor, claim_id: int, *, for_update: bool = False) -> VoucherClaim:
    """The claim if the actor may read it, else 404 (the claiming organisation's users and commission roles)."""
    stmt = select(VoucherClaim).where(VoucherClaim.id == claim_id)
    if for_update:
        stmt = stmt.with_for_update()
    claim = db.session.scalar(stmt)
    if claim is None or not may_read(actor, claim):
        raise NotFound(_("No such voucher claim."))
    return claim


def provider_ids(claim: VoucherClaim) -> set[int]:
    """The units that gave the services of the claim's lines."""
    return set(db.session.scalars(select(ServiceRecord.unit_id).join(
        VoucherClaimLine, VoucherClaimLine.service_record_id == ServiceRecord.id).where(
        VoucherClaimLine.claim_id == claim.id)))


def has_conflict(actor, claim: VoucherClaim) -> bool:
    return actor.organization_id == claim.organization_id or actor.organization_id in provider_ids(claim)


APPROVAL_ACTIONS = ("voucher.claim_first_approval", "voucher.claim_approved")


def approved_by(actor, claim: VoucherClaim) -> bool:
    """Whether the actor's account gave one of the claim's approvals, whatever its roles are now: the approvals the
    claim holds, and those a return discarded (kept in the audit log)."""
    if db.session.scalar(select(VoucherApproval.id).where(
            VoucherApproval.claim_id == claim.id, VoucherApproval.auditor_id == actor.id).limit(1)) is not None:
        return True
    return db.session.scalar(select(AuditEntry.seq).where(
        AuditEntry.actor_id == actor.id, AuditEntry.object_type == "voucher_claim",
        AuditEntry.object_id == str(claim.id), AuditEntry.action.in_(APPROVAL_ACTIONS)).limit(1)) is not None


def _auditor(actor, claim: VoucherClaim) -> None:
    if not (is_commission(actor) and actor.has_role(Role.commission_auditor)):
        raise PermissionDenied(_("Only commission auditors decide voucher claims."))
    if has_conflict(actor, claim):
        raise PermissionDenied(_("You belong to the claimant or to a provider of this claim and may not decide it."),
                               code="conflict_of_interest")


def _state(claim: VoucherClaim, *allowed: str) -> None:
    if claim.status not in allowed:
        raise InvalidState(_("Not possible while the claim is %(status)s.", status=claim.status))


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Give the reason."), fields={"reason": _("required")})
    if len(text) > REASON_MAX:
        raise ValidationFailed(_("The reason is too long."), fields={"reason": _("at most 1000 characters")})
    return text


def in_notice(claim: VoucherClaim) -> bool:
    return claim.status == "approved" and claim.notice_until is not None and now_utc() < claim.notice_until


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
    _auditor(actor, claim)
    _state(claim, "submitted")
    before, claim.status = claim.status, "under_review"
    claim.reviewer_id, claim.reviewed_at = actor.id, now_utc()
    from . import fraud_signals

    codes = fraud_signals.refresh(claim)
    _record("reviewed", actor, claim, before, signals=codes)
    return claim


def approve(*, actor, claim: VoucherClaim) -> VoucherClaim:
    """Approve; above the threshold the first approval is only recorded and a different auditor must follow."""
    _auditor(actor, claim)
    lock_year(claim.year)  # serialises with every submission of the year, so the reservation cannot move meanwhile
    db.session.refresh(claim)
    _state(claim, "under_review")
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
    claim.status, claim.decided_at, claim.decided_by_id = "approved", now, actor.id
    # From the approval's whole second, as both are shown: the period is exactly the days the notice states.
    claim.notice_until = now.replace(microsecond=0) + timedelta(days=setting("VOUCHER_NOTICE_DAYS"))
    _record("approved", actor, claim, before, approvals=len(approvals) + 1, needed=needed,
            notice_until=claim.notice_until.isoformat())
    return claim


def reject(*, actor, claim: VoucherClaim, reason: str | None) -> VoucherClaim:
    """Refuse the claim; during the public notice an auditor may still reject it after an objection."""
    _auditor(actor, claim)
    text = _reason(reason)
    if claim.status == "approved":
        if not in_notice(claim):
            raise InvalidState(_("The public notice has ended: the claim can no longer be rejected."))
    else:
        _state(claim, "submitted", "under_review", "returned")
    before, claim.status, claim.reason = claim.status, "rejected", text
    claim.decided_at, claim.decided_by_id = now_utc(), actor.id
    released = release_records(claim)
    _record("rejected", actor, claim, before, reason=text, released_records=released)
    return claim


def return_claim(*, actor, claim: VoucherClaim, reason: str | None) -> VoucherClaim:
    """Send the claim back for more information; it keeps its reservation for the configured days."""
    _auditor(actor, claim)
    text = _reason(reason)
    _state(claim, "submitted", "under_review")
    before, claim.status, claim.reason, claim.returned_at = claim.status, "returned", text, now_utc()
    db.session.execute(delete(VoucherApproval).where(VoucherApproval.claim_id == claim.id))
    _record("returned", actor, claim, before, reason=text,
            keep_until=(claim.returned_at + timedelta(days=setting("VOUCHER_RETURNED_KEEP_DAYS"))).isoformat())
    return claim


def withdraw(*, actor, claim: VoucherClaim, reason: str | None = None, automatic: bool = False) -> VoucherClaim:
    """The claimant withdraws before approval (or the job does, for a claim returned too long ago)."""
    if not automatic and not (actor.organization_id == claim.organization_id and actor.has_role(Role.sme_user)):
        raise PermissionDenied(_("Only the claiming enterprise's users withdraw a claim."))
    _state(claim, *BEFORE_APPROVAL)
    before, claim.status = claim.status, "withdrawn"
    if reason:
        claim.reason = reason
    released = release_records(claim)
    _record("withdrawn", actor, claim, before, automatic=automatic, released_records=released)
    return claim


def pay(*, actor, claim: VoucherClaim, paid_on: date, payment_ref: str) -> VoucherClaim:
    """A commission officer records the payment, never before the public notice ends."""
    if not (is_commission(actor) and actor.has_role(Role.commission_officer)):
        raise PermissionDenied(_("Only commission officers record payouts."))
    if approved_by(actor, claim):
        raise PermissionDenied(_("You approved this claim: a different officer must record its payout."),
                               code="conflict_of_interest")
    ref = (payment_ref or "").strip()
    if not ref or len(ref) > 100:
        raise ValidationFailed(_("Give the payment reference (at most 100 characters)."),
                               fields={"payment_ref": _("required, at most 100 characters")})
    _state(claim, "approved")
    if claim.notice_until is None or now_utc() < claim.notice_until:
        raise Conflict(_("The public notice has not ended yet."), code="notice_not_ended")
    before = claim.status
    claim.status, claim.paid_on, claim.payment_ref, claim.paid_by_id = "paid", paid_on, ref, actor.id
    _record("paid", actor, claim, before, paid_on=paid_on.isoformat(), payment_ref=ref)
    return claim
