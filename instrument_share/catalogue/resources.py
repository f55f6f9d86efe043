"""The directory of other S&T resources (measure 18): innovation platforms and service agencies."""

from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from ..accounts.models import Organization
from ..accounts.roles import OrgStatus
from ..audit import chain as audit
from ..core.errors import PermissionDenied, ValidationFailed
from ..db import db
from . import access
from .models import Instrument, Resource
from .visibility import Viewer, can_see, viewer_level, visible_fields


class ResourceKind(StrEnum):
    national_key_lab = "national_key_lab"
    provincial_key_lab = "provincial_key_lab"
    engineering_centre = "engineering_centre"
    innovation_centre = "innovation_centre"
    service_agency = "service_agency"
    testing_centre = "testing_centre"


KIND_LABELS = {
    ResourceKind.national_key_lab: _l("National key laboratory"),
    ResourceKind.provincial_key_lab: _l("Provincial key laboratory"),
    ResourceKind.engineering_centre: _l("Engineering (technology) research centre"),
    ResourceKind.innovation_centre: _l("Technology innovation centre"),
    ResourceKind.service_agency: _l("S&T service agency"),
    ResourceKind.testing_centre: _l("Testing and inspection centre"),
}
TEXT_FIELDS = {"name_zh": 200, "name_en": 200, "level": 32, "fields_of_work": 5000, "services": 5000,
               "contact": 200, "website": 300}


def _values(values: dict, *, partial: bool) -> dict:
    errors, cleaned = {}, {}
    for name, raw in values.items():
        if name == "kind":
            if raw not in ResourceKind.__members__:
                errors[name] = _("unknown kind")
            else:
                cleaned[name] = raw
        elif name == "is_published":
            if not isinstance(raw, bool):
                errors[name] = _("true or false expected")
            else:
                cleaned[name] = raw
        elif name in TEXT_FIELDS:
            if raw is not None and not isinstance(raw, str):
                errors[name] = _("text expected")
            elif raw and len(raw.strip()) > TEXT_FIELDS[name]:
                errors[name] = _("at most %(n)d characters", n=TEXT_FIELDS[name])
            else:
                cleaned[name] = (raw or "").strip() or None
        elif name != "instrument_ids":
            errors[name] = _("unknown field")
    if not partial:
        for name in ("kind", "name_zh"):
            if not cleaned.get(name) and name not in errors:
                errors[name] = _("required")
    if "name_zh" in cleaned and not cleaned["name_zh"]:
        errors["name_zh"] = _("required")
    if errors:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(errors))), fields=errors)
    return cleaned


def _instruments(ids, organization_id: int) -> list[Instrument]:
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationFailed(_("instrument_ids must be a list of ids."), fields={"instrument_ids": _("ids")})
    found = list(db.session.scalars(select(Instrument).where(Instrument.id.in_(ids),
                                                             Instrument.owner_id == organization_id)))
    if len(found) != len(set(ids)):
        raise ValidationFailed(_("Link only the unit's own instruments."),
                               fields={"instrument_ids": _("not instruments of this unit")})
    return found


def create(*, actor, values: dict, organization_id: int | None = None) -> Resource:
    organization_id = actor.organization_id if organization_id is None else organization_id
    if not access.may_edit_resources(actor, organization_id):
        raise PermissionDenied(_("Only the unit's operators or the system administrator list its resources."))
    if db.session.get(Organization, organization_id) is None:  # the system administrator names the unit
        raise ValidationFailed(_("No such organisation."), fields={"organization_id": _("unknown organisation")})
    cleaned = _values(values, partial=False)
    resource = Resource(organization_id=organization_id, **cleaned)
    resource.instruments = _instruments(values.get("instrument_ids"), organization_id)
    db.session.add(resource)
    db.session.flush()
    audit.append("resource.created", actor=actor, organization_id=organization_id, object_type="resource",
                 object_id=resource.id, details={"kind": resource.kind})
    return resource


def update(*, actor, resource: Resource, values: dict) -> Resource:
    if not access.may_edit_resources(actor, resource.organization_id):
        raise PermissionDenied(_("Only the unit's operators or the system administrator change its resources."))
    for name, value in _values(values, partial=True).items():
        setattr(resource, name, value)
    if "instrument_ids" in values:
        resource.instruments = _instruments(values["instrument_ids"], resource.organization_id)
    db.session.flush()
    audit.append("resource.updated", actor=actor, organization_id=resource.organization_id, object_type="resource",
                 object_id=resource.id, details={"fields": sorted(values)})
    return resource


def visible_instruments(resource: Resource, viewer: Viewer) -> list[Instrument]:
    """The linked listings the viewer may see *as this unit's*: a defence listing whose owning unit is not visible
    to the viewer is left out, since listing it under the unit's resource would reveal its owner."""
    return [i for i in resource.instruments
            if can_see(viewer, i) and "owner_id" in visible_fields(i, viewer_level(viewer, i.owner_id))]


def search_resources(q: str = "", kind: str | None = None):
    """Published resources of verified units; names and descriptions matched as substrings (a short list)."""
    from ..accounts.models import Organization

    stmt = (select(Resource).join(Organization, Organization.id == Resource.organization_id)
            .where(Resource.is_published.is_(True), Organization.status == OrgStatus.verified)
            .order_by(Resource.kind, Resource.id))
    if kind:
        stmt = stmt.where(Resource.kind == kind)
    q = (q or "").strip()
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Resource.name_zh.like(pattern), Resource.name_en.ilike(pattern),
                              Resource.fields_of_work.like(pattern), Resource.services.like(pattern)))
    return stmt
