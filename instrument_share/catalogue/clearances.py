"""A defence unit's register of cleared organisations (confidentiality agreement accepted)."""

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.access import can_see_org
from ..accounts.models import Organization
from ..accounts.roles import OrgStatus
from ..audit import chain as audit
from ..core.clock import local_today
from ..core.errors import Conflict, NotFound, ValidationFailed
from ..db import db
from . import access
from .models import Clearance


def unit_addressed(actor, org_id: int) -> Organization:
    """The organisation a clearance request names, or 404 when it does not exist or is not visible to the actor: a
    pending organisation's id must not answer otherwise than a missing one (docs/api.md;
    accounts.access.can_see_org)."""
    unit = db.session.get(Organization, org_id)
    if unit is None or not can_see_org(actor, unit):
        raise NotFound(_("No such organisation."))
    return unit


def is_cleared(organization_id: int, unit_id: int) -> bool:
    """Whether the defence unit has cleared the organisation (it accepted the confidentiality agreement)."""
    return db.session.scalar(select(Clearance.id).where(Clearance.unit_id == unit_id,
                                                        Clearance.organization_id == organization_id)) is not None


def list_clearances(actor, unit: Organization) -> list[Clearance]:
    access.require_clearance_manager(actor, unit)
    return list(db.session.scalars(select(Clearance).where(Clearance.unit_id == unit.id).order_by(Clearance.id)))


def grant(*, actor, unit: Organization, organization_id, agreement_version: str) -> Clearance:
    access.require_clearance_manager(actor, unit)
    other = db.session.get(Organization, organization_id) if isinstance(organization_id, int) else None
    if other is None or other.status != OrgStatus.verified:
        raise ValidationFailed(_("Only a verified organisation can be cleared."),
                               fields={"organization_id": _("not a verified organisation")})
    if other.id == unit.id:
        raise ValidationFailed(_("A unit does not clear itself."), fields={"organization_id": _("same unit")})
    version = (agreement_version or "").strip()
    if not version or len(version) > 60:
        raise ValidationFailed(_("Name the version of the confidentiality agreement."),
                               fields={"agreement_version": _("required, at most 60 characters")})
    if db.session.scalar(select(Clearance.id).where(Clearance.unit_id == unit.id,
                                                    Clearance.organization_id == other.id)):
        raise Conflict(_("This organisation is already cleared."), code="already_cleared")
    clearance = Clearance(unit_id=unit.id, organization_id=other.id, agreement_version=version,
                          agreed_on=local_today(), created_by_id=actor.id)
    db.session.add(clearance)
    db.session.flush()
    audit.append("clearance.granted", actor=actor, organization_id=unit.id, object_type="clearance",
                 object_id=clearance.id, details={"cleared_id": other.id, "agreement_version": version})
    return clearance


def remove(*, actor, unit: Organization, organization_id: int) -> None:
    access.require_clearance_manager(actor, unit)
    clearance = db.session.scalar(select(Clearance).where(Clearance.unit_id == unit.id,
                                                          Clearance.organization_id == organization_id))
    if clearance is None:
        raise NotFound(_("This organisation is not cleared."))
    db.session.delete(clearance)
    audit.append("clearance.removed", actor=actor, organization_id=unit.id, object_type="clearance",
                 object_id=clearance.id, details={"cleared_id": organization_id})
