"""Voucher claims after submission: review, approve, reject, return, withdraw, pay; the public notice (docs/api.md
"Vouchers")."""

from datetime import date

from flask import jsonify
from flask_babel import gettext as _

from ..core.errors import ValidationFailed
from ..db import db
from ..vouchers import access, notices, workflow
from ..vouchers.present import claim_json
from . import voucher_action_schemas as schemas
from .core import current_api_user, operation, paginate, parse_body, query_int, require_user

AUDITOR_CONFLICT = {403: {"conflict_of_interest": "the auditor belongs to the claimant or to a provider of the claim"}}


def _act(claim_id: int, handler):
    actor = require_user()
    with db.transaction():
        claim = access.readable_claim(actor, claim_id, for_update=True)
        handler(actor, claim)
    db.session.refresh(claim)
    return jsonify(claim_json(claim, actor))


@operation("/voucher-claims/<int:claim_id>/review", "POST", "An auditor takes a submitted claim (→ under_review)",
           tag="vouchers", errors=AUDITOR_CONFLICT)
def review_claim(claim_id: int):
    return _act(claim_id, lambda actor, claim: workflow.review(actor=actor, claim=claim))


@operation("/voucher-claims/<int:claim_id>/approve", "POST", "Approve (two different auditors above the "
           "threshold); approved claims enter the public notice", tag="vouchers", errors=AUDITOR_CONFLICT)
def approve_claim(claim_id: int):
    return _act(claim_id, lambda actor, claim: workflow.approve(actor=actor, claim=claim))


@operation("/voucher-claims/<int:claim_id>/reject", "POST", "Reject with a reason (also during the notice)",
           tag="vouchers", body=schemas.ReasonIn)
def reject_claim(claim_id: int):
    body = parse_body(schemas.ReasonIn)
    return _act(claim_id, lambda actor, claim: workflow.reject(actor=actor, claim=claim, reason=body.reason))


@operation("/voucher-claims/<int:claim_id>/return", "POST", "Return for more information (keeps the "
           "reservation for a while)", tag="vouchers", body=schemas.ReasonIn)
def return_claim(claim_id: int):
    body = parse_body(schemas.ReasonIn)
    return _act(claim_id, lambda actor, claim: workflow.return_claim(actor=actor, claim=claim, reason=body.reason))


@operation("/voucher-claims/<int:claim_id>/withdraw", "POST", "The claimant withdraws before approval",
           tag="vouchers")
def withdraw_claim(claim_id: int):
    return _act(claim_id, lambda actor, claim: workflow.withdraw(actor=actor, claim=claim))


@operation("/voucher-claims/<int:claim_id>/pay", "POST", "A commission officer records the payout (after the "
           "notice)", tag="vouchers", body=schemas.PayIn,
           errors={403: {"conflict_of_interest": "the officer's account approved the claim (any of its approvals)"},
                   409: {"notice_not_ended": "the public notice has not ended", "invalid_state": "not approved"}})
def pay_claim(claim_id: int):
    body = parse_body(schemas.PayIn)
    try:
        paid_on = date.fromisoformat(body.paid_on)
    except ValueError as exc:
        raise ValidationFailed(_("paid_on is a date like 2026-12-20."), fields={"paid_on": _("YYYY-MM-DD")}) from exc
    return _act(claim_id, lambda actor, claim: workflow.pay(actor=actor, claim=claim, paid_on=paid_on,
                                                            payment_ref=body.payment_ref))


@operation("/voucher-notices", "GET", "Public notice: approved claims in their notice period (enterprise name, "
           "amount, period)", tag="vouchers", auth="optional", query=[("year", "integer"), ("page", "integer"),
                                                                       ("per_page", "integer")])
def list_notices():
    current_api_user()  # a token, if given, must be valid; the notice is public either way
    year = query_int("year", maximum=9999)
    return jsonify(paginate(notices.in_notice_query(year), notices.notice_json, db.session))
