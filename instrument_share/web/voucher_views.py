"""Innovation-voucher pages of an enterprise (eligibility, new claim with its computed trace, lines, evidence,
submit, withdraw), the claim page every reader shares, and the public notice."""

import io
import json

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..accounts.access import is_commission
from ..accounts.models import Organization
from ..accounts.roles import Role
from ..core.clock import local_today
from ..core.money import format_fen
from ..db import db
from ..files.models import StoredFile
from ..ledger.models import ServiceRecord
from ..vouchers import access, claims, eligibility, fraud_signals, notices, policies, workflow
from ..vouchers.forms import ClaimForm, EvidenceForm, LinesForm, PayForm, ReasonForm, SubmitForm
from ..vouchers.models import CLAIM_STATES, VoucherApproval, VoucherClaim, VoucherEvidence, VoucherPolicy
from .actions import run_action
from .paging import page_arg

bp = Blueprint("vouchers", __name__)
PER_PAGE = 30
RECORD_CHOICES = 200

CLAIM_STATUS_LABELS = {
    "draft": _l("Draft"), "submitted": _l("Submitted"), "under_review": _l("Under review"),
    "returned": _l("Returned for more information"), "approved": _l("Approved (public notice)"),
    "rejected": _l("Rejected"), "withdrawn": _l("Withdrawn"), "paid": _l("Paid"),
}
INELIGIBLE_LABELS = {
    "listing_not_open": _l("instrument not open through the platform at the service's start"),
    "mode_not_eligible": _l("service mode not eligible"), "provider_region": _l("provider outside the region"),
    "related_provider": _l("provider related to the enterprise"),
    "nothing_paid_in_year": _l("nothing paid in the policy year"), "already_claimed": _l("already in another claim"),
}
CAP_LABELS = {"per_claim": _l("Cap per claim"), "enterprise": _l("Enterprise's annual cap"),
              "group": _l("Group's annual cap"), "budget": _l("Budget of the year")}


@bp.app_context_processor
def voucher_labels():
    return {"claim_status_labels": CLAIM_STATUS_LABELS, "ineligible_labels": INELIGIBLE_LABELS,
            "cap_labels": CAP_LABELS, "signal_labels": fraud_signals.SIGNAL_LABELS}


def me():
    return current_user._get_current_object()


def load(claim_id: int) -> VoucherClaim:
    claim = db.session.get(VoucherClaim, claim_id)
    if claim is None or not access.may_read(me(), claim):
        abort(404)
    return claim


def open_policies() -> list[VoucherPolicy]:
    today = local_today()
    return [p for p in db.session.scalars(select(VoucherPolicy).where(
        VoucherPolicy.valid_from <= today, VoucherPolicy.valid_to >= today).order_by(VoucherPolicy.year.desc()))
        if policies.is_newest(p)]


def own_records(org_id: int) -> list[ServiceRecord]:
    return list(db.session.scalars(select(ServiceRecord).where(ServiceRecord.organization_id == org_id).order_by(
        ServiceRecord.start_local_date.desc(), ServiceRecord.id.desc()).limit(RECORD_CHOICES)))


def record_choices(org_id: int, keep: list[int] = ()) -> list[tuple[int, str]]:
    records = own_records(org_id)
    known = {r.id for r in records}
    records += [r for r in db.session.scalars(select(ServiceRecord).where(ServiceRecord.id.in_(list(keep))))
                if r.id not in known and r.organization_id == org_id]
    return [(r.id, _("No. %(id)d · %(day)s · %(unit)s · %(fee)s", id=r.id, day=r.start_local_date.isoformat(),
                     unit=r.unit.name, fee=format_fen(r.fee_fen))) for r in records]


def is_claimant(claim: VoucherClaim) -> bool:
    return access.is_claimant(me(), claim)


def render_detail(claim: VoucherClaim, status: int = 200, **forms):
    actor = me()
    lines_form = forms.get("lines_form") or LinesForm(prefix="lines")
    if is_claimant(claim):
        chosen = [ln.service_record_id for ln in claim.lines]
        lines_form.record_ids.choices = record_choices(claim.organization_id, chosen)
        if not lines_form.is_submitted():
            lines_form.record_ids.data = chosen
    approvals = list(db.session.scalars(select(VoucherApproval).where(VoucherApproval.claim_id == claim.id)))
    return render_template(
        "vouchers/detail.html", claim=claim, trace=json.loads(claim.trace or "{}"),
        evidence=list(db.session.scalars(select(VoucherEvidence).where(VoucherEvidence.claim_id == claim.id)
                                         .order_by(VoucherEvidence.id))),
        signals=fraud_signals.signals_of(claim.id) if access.sees_signals(actor) else None,
        clawback=json.loads(claim.clawback_trace) if claim.clawback_trace else None,
        approvals=approvals, claimant=is_claimant(claim), in_notice=workflow.in_notice(claim),
        auditor=access.is_auditor(actor), officer=access.is_officer(actor),
        conflict=is_commission(actor) and access.has_conflict(actor, claim),
        approver_pays=access.is_officer(actor) and claim.status == "approved" and access.approved_by(actor, claim),
        notice_ended=claim.status == "approved" and not workflow.in_notice(claim),
        threshold=workflow.setting("VOUCHER_TWO_AUDITOR_THRESHOLD_FEN"),
        lines_form=lines_form, evidence_form=forms.get("evidence_form") or EvidenceForm(prefix="evidence"),
        submit_form=forms.get("submit_form") or SubmitForm(prefix="submit"),
        reject_form=forms.get("reject_form") or ReasonForm(prefix="reject"),
        return_form=forms.get("return_form") or ReasonForm(prefix="return"),
        pay_form=forms.get("pay_form") or PayForm(prefix="pay", data={"paid_on": local_today()})), status


def act(claim: VoucherClaim, handler, message: str, form=None, form_name: str | None = None):
    """Run one transition in a transaction; a refusal re-renders the claim with the reason next to its field."""
    done = run_action(lambda: handler(db.session.scalar(
        select(VoucherClaim).where(VoucherClaim.id == claim.id).with_for_update())), form=form)
    if done.refused:
        db.session.refresh(claim)  # the page shows the claim as it is, not as the refused transition left it
        return render_detail(claim, done.status, **({form_name: form} if form_name else {}))
    flash(message, "info")
    return redirect(url_for("vouchers.detail", claim_id=claim.id))


# ---------------------------------------------------------------- the enterprise's pages

@bp.route("/vouchers")
@login_required
def index():
    if is_commission(current_user):
        return redirect(url_for("voucher_audit.queue"))
    page = page_arg()
    stmt = access.visible_claims(me())
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(VoucherClaim.id.desc()).limit(PER_PAGE)
                                   .offset((page - 1) * PER_PAGE)))
    return render_template("vouchers/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           policies=open_policies(), can_claim=current_user.has_role(Role.sme_user))


@bp.route("/vouchers/eligibility")
@login_required
def eligibility_page():
    year = request.args.get("year", type=int) or local_today().year
    year = year if 2000 <= year <= 2100 else local_today().year
    policy = policies.newest_version(year)
    org = db.session.get(Organization, current_user.organization_id)
    result = eligibility.check(org, policy) if policy else None
    return render_template("vouchers/eligibility.html", year=year, policy=policy, result=result, org=org)


def _preview(form: ClaimForm):
    """The computed trace of the chosen records, written nowhere (no transaction)."""
    policy = db.session.get(VoucherPolicy, form.policy_id.data)
    org = db.session.get(Organization, current_user.organization_id)
    return run_action(lambda: claims.compute(org, policy, list(form.record_ids.data))[1].to_json(), form=form,
                      in_transaction=False)


@bp.route("/vouchers/claims/new", methods=["GET", "POST"])
@login_required
def new_claim():
    if not current_user.has_role(Role.sme_user):
        abort(403)
    form = ClaimForm()
    choices = open_policies()
    form.policy_id.choices = [(p.id, _("%(year)d, version %(version)d", year=p.year, version=p.version))
                              for p in choices]
    form.record_ids.choices = record_choices(current_user.organization_id)
    trace, status = None, 200
    if form.validate_on_submit():
        if request.form.get("action") == "preview":
            previewed = _preview(form)
            trace, status = previewed.value, previewed.status
        else:
            done = run_action(lambda: claims.create_draft(
                actor=me(), policy=db.session.get(VoucherPolicy, form.policy_id.data),
                record_ids=list(form.record_ids.data)), form=form)
            if not done.refused:
                flash(_("Draft claim no. %(id)d is saved.", id=done.value.id), "info")
                return redirect(url_for("vouchers.detail", claim_id=done.value.id))
            status = done.status
    elif form.is_submitted():
        status = 422
    return render_template("vouchers/new.html", form=form, trace=trace, has_policy=bool(choices)), status


@bp.route("/vouchers/claims/<int:claim_id>")
@login_required
def detail(claim_id: int):
    return render_detail(load(claim_id))


@bp.route("/vouchers/claims/<int:claim_id>/lines", methods=["POST"])
@login_required
def update_lines(claim_id: int):
    claim = load(claim_id)
    form = LinesForm(prefix="lines")
    form.record_ids.choices = record_choices(claim.organization_id, [ln.service_record_id for ln in claim.lines])
    if not form.validate_on_submit():
        return render_detail(claim, 422, lines_form=form)
    return act(claim, lambda c: claims.update_lines(actor=me(), claim=c, record_ids=list(form.record_ids.data)),
               _("The claim is recomputed."), form, "lines_form")


@bp.route("/vouchers/claims/<int:claim_id>/evidence", methods=["POST"])
@login_required
def add_evidence(claim_id: int):
    claim = load(claim_id)
    form = EvidenceForm(prefix="evidence")
    if not form.validate_on_submit():
        return render_detail(claim, 422, evidence_form=form)
    return act(claim, lambda c: claims.add_evidence(actor=me(), claim=c, file=form.file.data),
               _("The file is kept with its SHA-256."), form, "evidence_form")


@bp.route("/vouchers/claims/<int:claim_id>/submit", methods=["POST"])
@login_required
def submit(claim_id: int):
    claim = load(claim_id)
    form = SubmitForm(prefix="submit")
    if not form.validate_on_submit():
        return render_detail(claim, 422, submit_form=form)
    contracts, invoices = form.numbers()
    return act(claim, lambda c: claims.submit(actor=me(), claim=c, contract_nos=contracts, invoice_nos=invoices),
               _("Claim no. %(id)d is submitted; its subsidy is reserved.", id=claim.id), form, "submit_form")


@bp.route("/vouchers/claims/<int:claim_id>/withdraw", methods=["POST"])
@login_required
def withdraw(claim_id: int):
    claim = load(claim_id)
    return act(claim, lambda c: workflow.withdraw(actor=me(), claim=c),
               _("Claim no. %(id)d is withdrawn.", id=claim.id))


@bp.route("/vouchers/claims/<int:claim_id>/files/<int:file_id>")
@login_required
def evidence_file(claim_id: int, file_id: int):
    claim = load(claim_id)
    evidence = db.session.scalar(select(VoucherEvidence).where(VoucherEvidence.claim_id == claim.id,
                                                                VoucherEvidence.file_id == file_id))
    if evidence is None:
        abort(404)
    stored = db.session.get(StoredFile, file_id)
    return send_file(io.BytesIO(stored.data), mimetype="application/octet-stream", as_attachment=True,
                     download_name=evidence.filename)


# ---------------------------------------------------------------- public

@bp.route("/vouchers/notices")
def public_notices():
    page = page_arg()
    rows = list(db.session.scalars(notices.in_notice_query()))  # a week's approvals: a short list
    return render_template("vouchers/notices.html", rows=rows[(page - 1) * PER_PAGE:page * PER_PAGE],
                           total=len(rows), page=page, per_page=PER_PAGE)


__all__ = ["CLAIM_STATES", "act", "bp", "load", "render_detail"]
