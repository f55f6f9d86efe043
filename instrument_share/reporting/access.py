"""Who may read which statistics, reports and dashboards (docs/api.md "Who may read what").

City-level statistics are public: the commission reads them whole, everyone else (signed in or not) as the public,
under the disclosure rule (public.py, disclosure.py). A unit's statistics and reports: the unit's operators and the
commission roles. A user organisation's own figures (what it spent, the services it received): its users and the
commission roles. The platform report: the commission roles. "The commission" is accounts.access.is_commission
(a verified organisation's commission roles). Dashboards: each person's own (dashboard_for).
"""

from flask_babel import gettext as _
from sqlalchemy import false, select

from ..accounts.access import is_commission, signed_in
from ..accounts.models import Organization
from ..accounts.roles import OrgStatus, Role
from ..catalogue.access import get_visible_instrument, is_operator_of
from ..catalogue.visibility import viewer_for
from ..core.errors import NotAuthenticated, NotFound, PermissionDenied
from ..db import db
from .models import OperationReport
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
        instrument = get_visible_instrument(scope.instrument_id, viewer_for(actor))
        if not may_read_unit(actor, instrument.owner_id):
            _refuse(actor, unit_refused)
    if scope.unit_id is not None:
        _check_organization(actor, scope.unit_id, may_read_unit, _("No such unit."), unit_refused)
    if scope.organization_id is not None:
        _check_organization(actor, scope.organization_id, may_read_organization, _("No such organisation."),
                            _("Only the organisation's own users and the commission read its figures."))


# ---------------------------------------------------------------- quarterly operation reports


def may_use_reports(actor) -> bool:
    """The reports page: the commission and the instrument operators of a unit (who read their unit's reports)."""
    return is_commission(actor) or may_read_unit(actor, actor.organization_id)


def may_read_report(actor, report: OperationReport) -> bool:
    return is_commission(actor) if report.unit_id is None else may_read_unit(actor, report.unit_id)


def may_generate_report(actor, unit_id: int | None) -> bool:
    """Whoever may read a report of `unit_id` (None: the platform's) may generate a fresh version of it."""
    return may_read_report(actor, OperationReport(unit_id=unit_id))


def readable_reports(actor):
    """The reports `actor` may read, newest first."""
    stmt = select(OperationReport).order_by(OperationReport.year.desc(), OperationReport.quarter.desc(),
                                            OperationReport.generated_at.desc(), OperationReport.id.desc())
    if is_commission(actor):
        return stmt
    if may_read_unit(actor, actor.organization_id):
        return stmt.where(OperationReport.unit_id == actor.organization_id)
    return stmt.where(false())


def get_readable_report(actor, report_id: int) -> OperationReport:
    report = db.session.get(OperationReport, report_id)
    if report is None or not may_read_report(actor, report):
        raise NotFound(_("No such report."))  # others learn nothing, not even that a report exists
    return report


# ---------------------------------------------------------------- dashboards


def may_read_unit_dashboard(actor) -> bool:
    """A unit's dashboard is its own instrument operators' (the commission reads unit figures on its own)."""
    return is_operator_of(actor, actor.organization_id)


def may_read_commission_dashboard(actor) -> bool:
    return is_commission(actor)


def may_read_organization_dashboard(actor) -> bool:
    """What a user organisation spent and received: its SME users and operators, not the platform's administrators."""
    return not actor.is_admin and actor.has_role(Role.sme_user, Role.provider_operator)


def dashboard_for(actor) -> str | None:
    """Which dashboard is the actor's own: "commission", "unit", "organization", or None (the city figures)."""
    if not getattr(actor, "is_authenticated", False):
        return None
    if may_read_commission_dashboard(actor):
        return "commission"
    if may_read_unit_dashboard(actor):
        return "unit"
    return None if actor.is_admin else "organization"
