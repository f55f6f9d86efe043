"""The commission's voucher pages: the auditors' queue and decisions, the officer's policies, payouts and exports."""

import io
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..accounts.access import is_commission
from ..accounts.roles import COMMISSION_ROLES, Role
from ..catalogue.fields import SERVICE_MODE_LABELS
from ..core import spreadsheet
from ..core.clock import now_utc
from ..db import db, id_from_text
from ..vouchers import access, exports, fraud_signals, policies, workflow
from ..vouchers.forms import POLICY_FIELDS, VOUCHER_MODES, PayForm, PolicyForm, ReasonForm
from ..vouchers.models import VoucherClaim, VoucherClaimSignal, VoucherPolicy
from .actions import run_action
from .paging import page_arg
from .voucher_views import CLAIM_STATUS_LABELS, act, load, me, render_detail

bp = Blueprint("voucher_audit", __name__)
PER_PAGE = 30


def commission_required(*roles: Role):
    """Signed in, acting for the commission (accounts.access.is_commission) and holding one of the roles, or 403.

    web.helpers.role_required looks at the role only; a commission role in an unverified organisation is refused.
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not (is_commission(current_user) and current_user.has_role(*roles)):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


@bp.route("/vouchers/queue")
@commission_required(*COMMISSION_ROLES)
def queue():
    status = request.args.get("status", "submitted")
    status = status if status in CLAIM_STATUS_LABELS else None
    signal = request.args.get("signal") or None
    signal = signal if signal in fraud_signals.SIGNAL_LABELS else None
    stmt = access.visible_claims(me()).where(VoucherClaim.status != "draft")
    if status:
        stmt = stmt.where(VoucherClaim.status == status)
    if signal:
        stmt = stmt.where(fraud_signals.claims_with_signal(signal))
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(db.session.scalars(stmt.order_by(VoucherClaim.submitted_at, VoucherClaim.id).limit(PER_PAGE)
                                   .offset((page - 1) * PER_PAGE)))
    codes: dict[int, list[str]] = {}
    if rows:
        for claim_id, code in db.session.execute(select(VoucherClaimSignal.claim_id, VoucherClaimSignal.code).where(
                VoucherClaimSignal.claim_id.in_([c.id for c in rows])).order_by(VoucherClaimSignal.code)):
            codes.setdefault(claim_id, []).append(code)
    return render_template("vouchers/queue.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           status=status, signal=signal, codes=codes)


# ---------------------------------------------------------------- decisions

@bp.route("/vouchers/claims/<int:claim_id>/review", methods=["POST"])
@commission_required(Role.commission_auditor)
def review(claim_id: int):
    claim = load(claim_id)
    return act(claim, lambda c: workflow.review(actor=me(), claim=c),
               _("You are reviewing claim no. %(id)d.", id=claim.id))


@bp.route("/vouchers/claims/<int:claim_id>/approve", methods=["POST"])
@commission_required(Role.commission_auditor)
def approve(claim_id: int):
    claim = load(claim_id)
    return act(claim, lambda c: workflow.approve(actor=me(), claim=c),
               _("Your approval of claim no. %(id)d is recorded.", id=claim.id))


def _with_reason(claim_id: int, prefix: str, handler, message: str):
    claim = load(claim_id)
    form = ReasonForm(prefix=prefix)
    if not form.validate_on_submit():
        return render_detail(claim, 422, **{f"{prefix}_form": form})
    return act(claim, lambda c: handler(actor=me(), claim=c, reason=form.reason.data), message, form,
               f"{prefix}_form")


@bp.route("/vouchers/claims/<int:claim_id>/reject", methods=["POST"])
@commission_required(Role.commission_auditor)
def reject(claim_id: int):
    return _with_reason(claim_id, "reject", workflow.reject, _("Claim no. %(id)d is rejected.", id=claim_id))


@bp.route("/vouchers/claims/<int:claim_id>/return", methods=["POST"])
@commission_required(Role.commission_auditor)
def return_claim(claim_id: int):
    return _with_reason(claim_id, "return", workflow.return_claim,
                        _("Claim no. %(id)d is returned for more information.", id=claim_id))


@bp.route("/vouchers/claims/<int:claim_id>/signals", methods=["POST"])
@commission_required(*COMMISSION_ROLES)
def refresh_signals(claim_id: int):
    claim = load(claim_id)
    return act(claim, lambda c: fraud_signals.refresh(c), _("The signals are recomputed."))


@bp.route("/vouchers/claims/<int:claim_id>/pay", methods=["POST"])
@commission_required(Role.commission_officer)
def pay(claim_id: int):
    claim = load(claim_id)
    form = PayForm(prefix="pay")
    if not form.validate_on_submit():
        return render_detail(claim, 422, pay_form=form)
    return act(claim, lambda c: workflow.pay(actor=me(), claim=c, paid_on=form.paid_on.data,
                                             payment_ref=form.payment_ref.data),
               _("The payout of claim no. %(id)d is recorded.", id=claim.id), form, "pay_form")


# ---------------------------------------------------------------- policies

@bp.route("/vouchers/policies")
def policy_list():
    rows = list(db.session.scalars(select(VoucherPolicy).order_by(VoucherPolicy.year.desc(),
                                                                  VoucherPolicy.version.desc()).limit(200)))
    newest = {p.year: p.id for p in sorted(rows, key=lambda p: p.version)}
    officer = access.is_officer(current_user)
    return render_template("vouchers/policies.html", rows=rows, newest=newest, officer=officer,
                           split=policies.split)


def _form_from(policy: VoucherPolicy) -> dict:
    """The form of a new version, filled with the policy it supersedes (amounts in fen: YuanField shows yuan)."""
    return {"supersedes_id": str(policy.id), "year": policy.year, "valid_from": policy.valid_from,
            "valid_to": policy.valid_to, "budget": policy.budget_fen, "rate_bp": policy.rate_bp,
            "defence_rate_bp": policy.defence_rate_bp, "per_claim_cap": policy.per_claim_cap_fen,
            "enterprise_annual_cap": policy.enterprise_annual_cap_fen,
            "group_annual_cap": policy.group_annual_cap_fen, "min_claim": policy.min_claim_fen,
            "eligible_modes": policies.split(policy.eligible_modes),
            "provider_region_prefixes": policy.provider_region_prefixes,
            "claimant_region_prefixes": policy.claimant_region_prefixes, "sme_max_staff": policy.sme_max_staff,
            "sme_max_revenue": policy.sme_max_revenue_fen, "sme_max_assets": policy.sme_max_assets_fen}


@bp.route("/vouchers/policies/new", methods=["GET", "POST"])
@commission_required(Role.commission_officer)
def new_policy():
    old = None
    if (old_id := id_from_text(request.args.get("supersedes"))) is not None:
        old = db.session.get(VoucherPolicy, old_id)
    form = PolicyForm(data=_form_from(old) if old and request.method == "GET" else None)
    form.eligible_modes.choices = [(m, SERVICE_MODE_LABELS.get(m, m)) for m in VOUCHER_MODES]
    status = 200
    if form.validate_on_submit():
        done = run_action(lambda: policies.create_policy(actor=me(), data=form.payload()), form=form,
                          field_names=POLICY_FIELDS)
        if not done.refused:
            flash(_("The policy of %(year)d, version %(version)d, is in force.", year=done.value.year,
                    version=done.value.version), "info")
            return redirect(url_for("voucher_audit.policy_list"))
        status = done.status
    elif form.is_submitted():
        status = 422
    return render_template("vouchers/policy_form.html", form=form, old=old), status


# ---------------------------------------------------------------- payouts and exports

@bp.route("/vouchers/payouts")
@commission_required(Role.commission_officer)
def payouts():
    approved = list(db.session.scalars(select(VoucherClaim).where(VoucherClaim.status == "approved").order_by(
        VoucherClaim.notice_until, VoucherClaim.id).limit(500)))
    paid = list(db.session.scalars(select(VoucherClaim).where(VoucherClaim.status == "paid").order_by(
        VoucherClaim.paid_on.desc(), VoucherClaim.id.desc()).limit(100)))
    return render_template("vouchers/payouts.html", approved=approved, paid=paid, now=now_utc(),
                           pay_form=PayForm(prefix="pay"))


@bp.route("/vouchers/exports")
@commission_required(*COMMISSION_ROLES)
def export_index():
    years = list(db.session.scalars(select(VoucherPolicy.year).distinct().order_by(VoucherPolicy.year.desc())))
    return render_template("vouchers/exports.html", years=years, reports=exports.REPORTS)


@bp.route("/vouchers/exports/<any(claims, payouts, enterprises, providers):report>.<any(csv, xlsx):fmt>")
@commission_required(*COMMISSION_ROLES)
def export_file(report: str, fmt: str):
    year = request.args.get("year", type=int)
    if year is not None and not 2000 <= year <= 2100:
        abort(404)
    built = exports.build(report, year, me())
    suffix = f"-{year}" if year else ""
    if fmt == "csv":
        return send_file(io.BytesIO(exports.to_csv(built)), mimetype=spreadsheet.CSV_MIMETYPE,
                         as_attachment=True, download_name=f"voucher-{report}{suffix}.csv")
    return send_file(io.BytesIO(exports.to_xlsx(built)), as_attachment=True,
                     mimetype=spreadsheet.XLSX_MIMETYPE,
                     download_name=f"voucher-{report}{suffix}.xlsx")
