"""Listing adjustment requests (docs/api.md "Service records, revenue, ratings"), so that a second operator of the unit
finds the requests waiting for approval without opening every service record.

Readers follow the service records: the unit's operators, the user organisation (requests on its own records), the
commission roles. A filter naming something the caller cannot read simply matches nothing."""

from flask import jsonify, request
from flask_babel import gettext as _

from ..core.errors import ValidationFailed
from ..db import db
from ..ledger import access
from ..ledger.models import AdjustmentRequest
from ..ledger.present import request_json
from .core import operation, paginate, query_int, require_user
from .ledger import TAG

STATUSES = ("pending_approval", "approved", "rejected")



@operation("/adjustment-requests", "GET", "Adjustment requests the caller may read, e.g. those of a unit waiting for "
           "a second operator (status=pending_approval)", tag=TAG,
           query=[("status", "string"), ("unit_id", "integer"), ("service_record_id", "integer"),
                  ("page", "integer"), ("per_page", "integer")])
def list_requests():
    actor = require_user()
    # oldest first: the order a second operator works through them
    stmt = access.visible_requests(actor).order_by(AdjustmentRequest.created_at, AdjustmentRequest.id)
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
