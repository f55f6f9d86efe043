"""Who may read and write service records, ledger entries and adjustment requests (docs/api.md "Who may read what").

Readers: the owning unit's operators, the user organisation (its own records), the commission
(accounts.access.is_commission). Writers: the owning unit's provider_operator users only. Entries and adjustment
requests follow their service record. For each kind of object: a check, the SQL filter for lists, and a loader that
answers NotFound for what the viewer may not read (it learns nothing, not even that the object exists).
"""

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..accounts.access import is_commission, signed_in
from ..accounts.roles import Role
from ..catalogue.access import is_operator_of
from ..core.errors import NotFound
from ..db import db
from .models import AdjustmentRequest, RevenueEntry, ServiceRecord


def may_write(actor, unit_id: int) -> bool:
    return is_operator_of(actor, unit_id)


def may_read(actor, record: ServiceRecord) -> bool:
    if not signed_in(actor):
        return False
    return is_commission(actor) or actor.organization_id == record.organization_id or \
        is_operator_of(actor, record.unit_id)


def readable_clause(actor, unit_column, org_column):
    """A WHERE clause limiting rows (records, entries) to what `actor` may read; None reads everything."""
    if is_commission(actor):
        return None
    clauses = [org_column == actor.organization_id]
    if actor.has_role(Role.provider_operator) and is_operator_of(actor, actor.organization_id):
        clauses.append(unit_column == actor.organization_id)
    return or_(*clauses)


def _limited(stmt, actor, unit_column, org_column):
    clause = readable_clause(actor, unit_column, org_column)
    return stmt if clause is None else stmt.where(clause)


def visible_records(actor):
    return _limited(select(ServiceRecord), actor, ServiceRecord.unit_id, ServiceRecord.organization_id)


def visible_entries(actor):
    return _limited(select(RevenueEntry), actor, RevenueEntry.unit_id, RevenueEntry.organization_id)


def visible_requests(actor):
    """Adjustment requests `actor` may read (those on the service records it may read)."""
    stmt = select(AdjustmentRequest).join(ServiceRecord, ServiceRecord.id == AdjustmentRequest.service_record_id)
    return _limited(stmt, actor, AdjustmentRequest.unit_id, ServiceRecord.organization_id)


def get_readable_record(actor, record_id: int) -> ServiceRecord:
    record = db.session.get(ServiceRecord, record_id)
    if record is None or not may_read(actor, record):
        raise NotFound(_("No such service record."))
    return record


def get_readable_request(actor, request_id: int) -> AdjustmentRequest:
    adjustment = db.session.get(AdjustmentRequest, request_id)
    if adjustment is None or not may_read(actor, adjustment.service_record):
        raise NotFound(_("No such adjustment request."))
    return adjustment


def record_scopes(actor) -> list[str]:
    """The service-record lists a person may choose, the most useful first: the commission reads every record,
    a unit's operators their unit's, everyone their own organisation's ("mine")."""
    if is_commission(actor):
        return ["all", "mine"]
    return ["unit", "mine"] if may_write(actor, actor.organization_id) else ["mine"]
