"""The audit log for the audit administrator."""

from datetime import datetime

from flask import jsonify, request
from flask_babel import gettext as _

from ..accounts.roles import Role
from ..audit import chain, queries
from ..core.clock import local_iso
from ..core.errors import ValidationFailed
from .core import operation, paginate, query_int, require_user


def entry_json(e) -> dict:
    return {"seq": e.seq, "at": local_iso(e.at), "actor_id": e.actor_id, "actor_name": e.actor_name,
            "organization_id": e.organization_id, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "outcome": e.outcome, "remote_addr": e.remote_addr,
            "details": queries.details_of(e), "prev_hash": e.prev_hash, "hash": e.hash}


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


@operation("/audit/verify", "GET", "Verify the audit chain (audit_admin)", tag="audit")
def audit_verify():
    require_user(Role.audit_admin)
    result = chain.verify()
    return jsonify({"ok": result.ok, "entries": result.entries, "first_broken_seq": result.first_broken_seq,
                    "problem": result.problem})
