"""Who may read which statistics, reports and dashboards (api.md "Who may read what").

City-level statistics are public: the commission reads them whole, everyone else (signed in or not) as the public,
under the disclosure rule (public.py, disclosure.py). A unit's statistics and reports: the unit's operators and the
commission roles. A user organisation's own figures (what it spent, the services it received): its users and the
commission roles. The platform report: the commission roles. "The commission" is accounts.policy.is_commission
(a verified organisation's commission roles).
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


def public_level(actor, scope: Scope) -> bool:
    """Whether the actor sees these figures as the public does: city or district figures, read by anyone but the
    commission. Unit, instrument and user-organisation figures are read whole by those check_scope lets in."""
    city_or_district = scope.unit_id is None and scope.instrument_id is None and scope.organization_id is None
    return city_or_district and not is_commission(actor)


def may_read_organization(actor, organization_id: int) -> bool:
    return is_commission(actor) or (signed_in(actor) and actor.organization_id == organization_id)


def _refuse(actor, message: str) -> None:
    if not signed_in(actor):
        raise NotAuthenticated(_("Sign in to read these statistics."))
    raise PermissionDenied(message)


def _check_organization(actor, organization_id: int, may_read, missing: str, refused: str) -> None:
    """An unknown organisation, or one not yet verified that the actor may not read, is 404 (its existence is not
    revealed); a verified one the actor may not read is 403 (401 when signed out)."""
    org = db.session.get(Organization, organization_id)
    allowed = org is not None and may_read(actor, org.id)
    if org is None or (org.status != OrgStatus.verified and not allowed):
        raise NotFound(missing)
    if not allowed:
        _refuse(actor, refused)


def check_scope(actor, scope: Scope) -> None:
    """Raise unless `actor` may read the figures of `scope`; an unknown or invisible object is 404."""
    unit_refused = _("Only the unit's instrument operators and the commission read these statistics.")
    if scope.instrument_id is not None:
        instrument = listings.get_visible(scope.instrument_id, viewer_for(actor))
        if not may_read_unit(actor, instrument.owner_id):
            _refuse(actor, unit_refused)
    if scope.unit_id is not None:
        _check_organization(actor, scope.unit_id, may_read_unit, _("No such unit."), unit_refused)
    if scope.organization_id is not None:
        _check_organization(actor, scope.organization_id, may_read_organization, _("No such organisation."),
                            _("Only the organisation's own users and the commission read its figures."))
