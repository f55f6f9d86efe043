"""Listing adjustment requests (api.md "Service records, revenue, ratings"), so that a second operator of the unit
finds the requests waiting for approval without opening every service record.

Readers follow the service records: the unit's operators, the user organisation (requests on its own records), the
commission roles. A filter naming something the caller cannot read simply matches nothing."""

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..core.errors import ValidationFailed
from ..db import db
from ..ledger import policy
from ..ledger.models import AdjustmentRequest, ServiceRecord
from ..ledger.present import request_json
from .core import operation, paginate, query_int, require_user
from .ledger import TAG

STATUSES = ("pending_approval", "approved", "rejected")


def visible_requests(actor):
    """Adjustment requests `actor` may read, oldest first (the order a second operator works through them)."""
    stmt = select(AdjustmentRequest).join(ServiceRecord, ServiceRecord.id == AdjustmentRequest.service_record_id)
    if (clause := policy.readable_clause(actor, AdjustmentRequest.unit_id, ServiceRecord.organization_id)) is not None:
        stmt = stmt.where(clause)
    return stmt.order_by(AdjustmentRequest.created_at, AdjustmentRequest.id)


@operation("/adjustment-requests", "GET", "Adjustment requests the caller may read, e.g. those of a unit waiting for "
           "a second operator (status=pending_approval)", tag=TAG,
           query=[("status", "string"), ("unit_id", "integer"), ("service_record_id", "integer"),
                  ("page", "integer"), ("per_page", "integer")])
def list_requests():
    actor = require_user()
    stmt = visible_requests(actor)
    status = request.args.get("status")
    if status not in (None, ""):
        if status not in STATUSES:
            raise ValidationFailed(_("status is one of %(names)s.", names=", ".join(STATUSES)),
                                   fields={"status": _("one of %(names)s", names=", ".join(STATUSES))})
        stmt = stmt.where(AdjustmentRequest.status == status)
    for name, column in (("unit_id", AdjustmentRequest.unit_id),
                         ("service_record_id", AdjustmentRequest.service_record_id)):
        if (value := query_int(name)) is not None:
            stmt = stmt.where(column == value)
    return jsonify(paginate(stmt, request_json, db.session))
