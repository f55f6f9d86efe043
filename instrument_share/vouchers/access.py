"""Who may do what with voucher claims and policies: the one place pages, API, exports and services ask.

Reading a claim: the signed-in users of the claiming organisation, and the commission (accounts.access.is_commission:
a commission role in a verified organisation) which reads every claim. Nobody else learns that a claim exists, not
even a provider whose services it lists: the loader answers 404. may_read (one claim) and readable_clause (a list)
state the same rule twice, once in Python and once in SQL; tests/vouchers/test_voucher_access.py checks that they agree.

Acting on a claim: its enterprise's SME users draft, change, submit and withdraw it; commission auditors decide it,
unless they belong to the claimant or to a provider of the claim; commission officers pay it, unless their account
approved it. Commission officers define the policies, which everyone may read; the commission exports the reports.
Jobs act for the platform itself (vouchers/jobs.py) and need no viewer.
"""

from flask_babel import gettext as _
from sqlalchemy import false, select

from ..accounts.access import is_commission, signed_in
from ..accounts.roles import Role
from ..audit.models import AuditEntry
from ..core.errors import NotFound, PermissionDenied
from ..db import db
from ..ledger.models import ServiceRecord
from .models import VoucherApproval, VoucherClaim, VoucherClaimLine

# ---------------------------------------------------------------- reading


def may_read(actor, claim: VoucherClaim) -> bool:
    return is_commission(actor) or (signed_in(actor) and actor.organization_id == claim.organization_id)


def readable_clause(actor):
    """A WHERE clause over VoucherClaim keeping what `actor` may read (may_read in SQL); None reads everything."""
    if is_commission(actor):
        return None
    if not signed_in(actor):
        return false()
    return VoucherClaim.organization_id == actor.organization_id


def visible_claims(actor):
    """select(VoucherClaim) limited to the claims `actor` may read."""
    stmt = select(VoucherClaim)
    clause = readable_clause(actor)
    return stmt if clause is None else stmt.where(clause)


def readable_claim(actor, claim_id: int, *, for_update: bool = False) -> VoucherClaim:
    """The claim if `actor` may read it; otherwise 404, as for a claim that does not exist."""
    stmt = visible_claims(actor).where(VoucherClaim.id == claim_id)
    if for_update:
        stmt = stmt.with_for_update()
    claim = db.session.scalar(stmt)
    if claim is None:
        raise NotFound(_("No such voucher claim."))
    return claim


def sees_signals(actor) -> bool:
    """Fraud signals and the auditors' names are for the commission only."""
    return is_commission(actor)


# ---------------------------------------------------------------- the claimant


def is_claimant(actor, claim: VoucherClaim | None = None) -> bool:
    """An SME user; with a claim, an SME user of the claiming enterprise."""
    return signed_in(actor) and actor.has_role(Role.sme_user) and (
        claim is None or actor.organization_id == claim.organization_id)


def require_claimant(actor, claim: VoucherClaim | None = None) -> None:
    if not is_claimant(actor, claim):
        raise PermissionDenied(_("Only an SME user of the claiming enterprise handles its claims."))


def require_withdrawer(actor, claim: VoucherClaim) -> None:
    if not is_claimant(actor, claim):
        raise PermissionDenied(_("Only the claiming enterprise's users withdraw a claim."))


# ---------------------------------------------------------------- the commission


def is_auditor(actor) -> bool:
    return is_commission(actor) and actor.has_role(Role.commission_auditor)


def is_officer(actor) -> bool:
    return is_commission(actor) and actor.has_role(Role.commission_officer)


def provider_ids(claim: VoucherClaim) -> set[int]:
    """The units that gave the services of the claim's lines."""
    return set(db.session.scalars(select(ServiceRecord.unit_id).join(
        VoucherClaimLine, VoucherClaimLine.service_record_id == ServiceRecord.id).where(
        VoucherClaimLine.claim_id == claim.id)))


def has_conflict(actor, claim: VoucherClaim) -> bool:
    """The actor belongs to the claimant or to a provider of the claim, so may not decide it."""
    return actor.organization_id == claim.organization_id or actor.organization_id in provider_ids(claim)


def require_deciding_auditor(actor, claim: VoucherClaim) -> None:
    """Review, approve, reject, return: a commission auditor without a conflict of interest."""
    if not is_auditor(actor):
        raise PermissionDenied(_("Only commission auditors decide voucher claims."))
    if has_conflict(actor, claim):
        raise PermissionDenied(_("You belong to the claimant or to a provider of this claim and may not decide it."),
                               code="conflict_of_interest")


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


def require_paying_officer(actor, claim: VoucherClaim) -> None:
    """Payout: a commission officer whose account gave none of the claim's approvals (four eyes)."""
    if not is_officer(actor):
        raise PermissionDenied(_("Only commission officers record payouts."))
    if approved_by(actor, claim):
        raise PermissionDenied(_("You approved this claim: a different officer must record its payout."),
                               code="conflict_of_interest")


def require_exporter(actor) -> None:
    """The exports are whole-platform figures (every claim, every provider's share): the commission's."""
    if not is_commission(actor):
        raise PermissionDenied(_("Your roles do not allow this."))  # pages refuse first; this guards other callers


def require_policy_officer(actor) -> None:
    if not is_officer(actor):
        raise PermissionDenied(_("Only a commission officer defines voucher policies."))
