"""Who may read which statistics, reports and dashboards (api.md "Who may read what").

City-level statistics are public. A unit's statistics and reports: the unit's operators and the commission roles.
A user organisation's own figures (what it spent, the services it received): its users and the commission roles.
The platform report: the commission roles. "The commission" is accounts.policy.is_commission (a verified
organisation's commission roles).
"""

from flask_babel import gettext as _

from ..accounts.models import Organization
from ..accounts.policy import is_commission, signed_in
from ..accounts.roles import OrgStatus
from ..catalogue import listings
from ..catalogue.policy import is_operator_of
from ..catalogue.visibility import viewer_for
from ..core.errors import NotAuthenticated, NotFound, PermissionDenied
from ..db import db
from .statistics import Scope


def may_read_unit(actor, unit_id: int) -> bool:
    return is_commission(actor) or is_operator_of(actor, unit_id)


def may_read_organization(actor, organization_id: int) -> bool:
    return is_commission(actor) or (signed_in(actor) and actor.organization_id == organization_id)


def _refuse(actor) -> None:
    if not signed_in(actor):
        raise NotAuthenticated(_("Sign in to read these statistics."))
    raise PermissionDenied(_("Only the unit's instrument operators and the commission read these statistics."))


def check_scope(actor, scope: Scope) -> None:
    """Raise unless `actor` may read the figures of `scope`; an unknown or invisible object is 404."""
    if scope.instrument_id is not None:
        instrument = listings.get_visible(scope.instrument_id, viewer_for(actor))
        if not may_read_unit(actor, instrument.owner_id):
            _refuse(actor)
    if scope.unit_id is not None:
        unit = db.session.get(Organization, scope.unit_id)
        if unit is None or (unit.status != OrgStatus.verified and not may_read_unit(actor, unit.id)):
            raise NotFound(_("No such unit."))
        if not may_read_unit(actor, unit.id):
            _refuse(actor)
    if scope.organization_id is not None:
        org = db.session.get(Organization, scope.organization_id)
        if org is None or (org.status != OrgStatus.verified and not may_read_organization(actor, org.id)):
            raise NotFound(_("No such organisation."))
        if not may_read_organization(actor, org.id):
            if not signed_in(actor):
                raise NotAuthenticated(_("Sign in to read these statistics."))
            raise PermissionDenied(_("Only the organisation's own users and the commission read its figures."))
