"""Who may read and write service records and the ledger (api.md "Who may read what").

Readers: the owning unit's operators, the user organisation (its own records), the commission
(accounts.policy.is_commission). Writers: the owning unit's provider_operator users only.
"""

from sqlalchemy import or_, select

from ..accounts.policy import is_commission, signed_in
from ..accounts.roles import Role
from ..catalogue.policy import is_operator_of
from .models import ServiceRecord


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


def visible_records(actor):
    stmt = select(ServiceRecord)
    clause = readable_clause(actor, ServiceRecord.unit_id, ServiceRecord.organization_id)
    return stmt if clause is None else stmt.where(clause)
