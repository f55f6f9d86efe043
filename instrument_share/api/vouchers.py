"""Voucher policies, eligibility, claims, evidence and submission (docs/api.md "Vouchers"). The review, approval,
payment and notice actions live in their own module."""

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts import access as accounts_access
from ..accounts.models import Organization
from ..accounts.roles import Role
from ..core.clock import local_today
from ..core.errors import NotFound, PermissionDenied, ValidationFailed
from ..db import db
from ..vouchers import access, claims, eligibility, policies
from ..vouchers.models import CLAIM_STATES, VoucherClaim, VoucherClaimSignal, VoucherPolicy
from ..vouchers.present import claim_json, evidence_json, policy_json
from . import voucher_schemas as schemas
from .core import operation, paginate, parse_body, query_int, require_user


@operation("/voucher-policies", "POST", "Define a year's voucher policy, or a new version (commission_officer)",
           tag="vouchers", body=schemas.PolicyIn, status=201)
def create_policy():
    actor = require_user(Role.commission_officer)
    body = parse_body(schemas.PolicyIn)
    with db.transaction():
        policy = policies.create_policy(actor=actor, data=body.model_dump(exclude_none=True))
        result = policy_json(policy)
    return jsonify(result), 201


@operation("/voucher-policies", "GET", "Voucher policies, newest year and version first", tag="vouchers",
           auth="optional", query=[("year", "integer"), ("page", "integer"), ("per_page", "integer")])
def list_policies():
    stmt = select(VoucherPolicy).order_by(VoucherPolicy.year.desc(), VoucherPolicy.version.desc())
    if (year := query_int("year", maximum=9999)) is not None:
        stmt = stmt.where(VoucherPolicy.year == year)
    return jsonify(paginate(stmt, policy_json, db.session))


@operation("/voucher-policies/<int:policy_id>", "GET", "Read a voucher policy", tag="vouchers", auth="optional")
def get_policy(policy_id: int):
    return jsonify(policy_json(policies.get_policy(policy_id)))


@operation("/organizations/<int:org_id>/voucher-eligibility", "GET",
           "Whether the organisation meets the voucher criteria of a year's newest policy", tag="vouchers",
           query=[("year", "integer")])
def get_eligibility(org_id: int):
    viewer = require_user()
    org = db.session.get(Organization, org_id)
    if org is None or not accounts_access.can_see_org(viewer, org):
        raise NotFound(_("No such organisation."))
    if not accounts_access.can_read_org_private(viewer, org):
        raise PermissionDenied(_("Voucher eligibility is visible to the organisation and the commission only."))
    year = query_int("year", local_today().year, maximum=9999)
    policy = policies.newest_version(year)
    if policy is None:
        raise NotFound(_("There is no voucher policy for %(year)d.", year=year))
    return jsonify(eligibility.check(org, policy).to_json() | {"policy_id": policy.id, "year": year})


@operation("/voucher-claims", "POST", "Draft a claim from service records (SME user of the claiming enterprise)",
           tag="vouchers", body=schemas.ClaimIn, status=201, response=schemas.ClaimOut)
def create_claim():
    actor = require_user(Role.sme_user)
    body = parse_body(schemas.ClaimIn)
    with db.transaction():
        policy = db.session.get(VoucherPolicy, body.policy_id)
        if policy is None:
            raise ValidationFailed(_("No such voucher policy."), fields={"policy_id": _("not found")})
        claim = claims.create_draft(actor=actor, policy=policy, record_ids=body.service_record_ids)
        result = claim_json(claim, actor)
    return jsonify(result), 201


@operation("/voucher-claims/<int:claim_id>", "PATCH", "Change the service records of a draft or returned claim",
           tag="vouchers", body=schemas.ClaimLinesIn, response=schemas.ClaimOut)
def update_claim(claim_id: int):
    actor = require_user()
    body = parse_body(schemas.ClaimLinesIn)
    with db.transaction():
        claim = access.readable_claim(actor, claim_id)
        claims.update_lines(actor=actor, claim=claim, record_ids=body.service_record_ids)
        result = claim_json(claim, actor)
    return jsonify(result)


@operation("/voucher-claims/<int:claim_id>/evidence", "POST", "Upload one evidence file (multipart, field "
           "\"file\")", tag="vouchers", status=201, upload="file")
def add_evidence(claim_id: int):
    actor = require_user()
    files = [f for values in request.files.listvalues() for f in values]
    if len(files) != 1:
        raise ValidationFailed(_("Send exactly one file as multipart form data."), fields={"file": _("one file")})
    with db.transaction():
        claim = access.readable_claim(actor, claim_id)
        evidence = claims.add_evidence(actor=actor, claim=claim, file=files[0])
        result = evidence_json(evidence)
    return jsonify(result), 201


@operation("/voucher-claims/<int:claim_id>/submit", "POST", "Submit: recompute and reserve the subsidy",
           tag="vouchers", body=schemas.SubmitIn, response=schemas.ClaimOut)
def submit_claim(claim_id: int):
    actor = require_user()
    body = parse_body(schemas.SubmitIn, allow_empty=True)
    with db.transaction():
        claim = access.readable_claim(actor, claim_id)
        claims.submit(actor=actor, claim=claim, contract_nos=body.contract_nos, invoice_nos=body.invoice_nos)
        result = claim_json(claim, actor)
    return jsonify(result)


@operation("/voucher-claims", "GET", "Claims: the caller's organisation's; every claim for the commission",
           tag="vouchers", query=[("status", "string"), ("year", "integer"), ("organization_id", "integer"),
                                  ("signal", "string"), ("page", "integer"), ("per_page", "integer")])
def list_claims():
    viewer = require_user()
    stmt = access.visible_claims(viewer).order_by(VoucherClaim.id.desc())
    if status := request.args.get("status"):
        if status not in CLAIM_STATES:
            raise ValidationFailed(_("Unknown claim status."), fields={"status": ", ".join(CLAIM_STATES)})
        stmt = stmt.where(VoucherClaim.status == status)
    if (year := query_int("year", maximum=9999)) is not None:
        stmt = stmt.where(VoucherClaim.year == year)
    if (org_id := query_int("organization_id")) is not None:
        stmt = stmt.where(VoucherClaim.organization_id == org_id)
    if signal := request.args.get("signal"):
        if not access.sees_signals(viewer):
            raise PermissionDenied(_("Fraud signals are shown to the commission only."))
        stmt = stmt.where(VoucherClaim.id.in_(select(VoucherClaimSignal.claim_id)
                                              .where(VoucherClaimSignal.code == signal)))
    return jsonify(paginate(stmt, lambda claim: claim_json(claim, viewer), db.session))


@operation("/voucher-claims/<int:claim_id>", "GET", "Read a claim with its lines and trace", tag="vouchers",
           response=schemas.ClaimOut)
def get_claim(claim_id: int):
    viewer = require_user()
    return jsonify(claim_json(access.readable_claim(viewer, claim_id), viewer))
