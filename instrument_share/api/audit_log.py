"""The audit log and its verification for the audit administrator; the daily anchors for anyone."""

from datetime import date, datetime

from flask import jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel

from ..accounts.roles import Role
from ..audit import anchors, chain, queries
from ..audit.present import entry_json
from ..core.errors import ValidationFailed
from .core import operation, paginate, query_int, require_user


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return queries.parse_bound(raw, end=name == "to")
    except ValueError as exc:
        raise ValidationFailed(_("%(name)s must be an ISO 8601 date or time.", name=name),
                               fields={name: _("ISO 8601 expected")}) from exc


@operation("/audit/entries", "GET", "Audit entries, filtered (audit_admin)", tag="audit",
           query=[("action", "string"), ("actor_id", "integer"), ("from", "string"), ("to", "string")])
def audit_entries():
    require_user(Role.audit_admin)
    from ..db import db

    stmt = queries.filtered(action=request.args.get("action") or None, actor_id=query_int("actor_id"),
                            start=_time_arg("from"), end=_time_arg("to"))
    return jsonify(paginate(stmt, entry_json, db.session))


class AnchorRef(BaseModel):
    date: date | None  # None for a head given on the command line, never in an API answer
    seq: int


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    first_broken_seq: int | None
    problem: str | None
    head_seq: int | None
    head_hash: str | None
    anchors_checked: int
    anchor_mismatch: AnchorRef | None


class AuditAnchorItem(BaseModel):
    date: date
    seq: int
    hash: str


class AuditAnchorPage(BaseModel):
    items: list[AuditAnchorItem]
    page: int
    per_page: int
    total: int


def verification_json(result: chain.VerifyResult) -> dict:
    mismatch = result.anchor_mismatch
    return {"ok": result.ok, "entries": result.entries, "first_broken_seq": result.first_broken_seq,
            "problem": result.problem, "head_seq": result.head_seq, "head_hash": result.head_hash,
            "anchors_checked": result.anchors_checked,
            "anchor_mismatch": None if mismatch is None else {
                "date": mismatch.day.isoformat() if mismatch.day else None, "seq": mismatch.seq}}


def anchor_json(anchor) -> dict:
    return {"date": anchor.day.isoformat(), "seq": anchor.seq, "hash": anchor.hash}


@operation("/audit/verify", "GET", "Verify the audit chain and its daily anchors (audit_admin)", tag="audit",
           response=AuditVerification)
def audit_verify():
    require_user(Role.audit_admin)
    return jsonify(verification_json(chain.verify()))


@operation("/audit/anchors", "GET", "The daily anchors of the audit chain, newest first (anyone)", tag="audit",
           auth="none", query=[("page", "integer"), ("per_page", "integer")], response=AuditAnchorPage)
def audit_anchors():
    from ..db import db

    return jsonify(paginate(anchors.newest_first(), anchor_json, db.session))
