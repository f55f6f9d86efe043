"""Who may act on listings, resources, clearances and import jobs (pages, API and services ask these).

What a viewer *sees* of a listing (fields, levels) is visibility.py; this module decides who may do what, and answers
NotFound for what the viewer may not know exists. For each kind of object: a check, and a loader.
"""

from flask_babel import gettext as _

from ..accounts.roles import OrgKind, OrgStatus, Role
from ..core.errors import NotFound, PermissionDenied
from ..db import db
from .models import ImportJob, Instrument, Resource
from .visibility import Viewer, can_see

PROVIDER_KINDS = frozenset({OrgKind.university, OrgKind.research_institute, OrgKind.key_lab, OrgKind.defence_unit})


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _active(user) -> bool:
    return _signed_in(user) and not user.is_disabled and user.organization.status == OrgStatus.verified


# ---------------------------------------------------------------- listings


def is_operator_of(user, owner_id: int) -> bool:
    return _active(user) and user.organization_id == owner_id and user.has_role(Role.provider_operator) \
        and user.organization.kind in PROVIDER_KINDS


def is_unit_reviewer(user, instrument: Instrument) -> bool:
    """The owning defence unit's own confidentiality reviewer."""
    return _active(user) and user.organization_id == instrument.owner_id and user.has_role(Role.defence_approver)


def is_superior_approver(user, instrument: Instrument) -> bool:
    return _active(user) and instrument.owner.superior_id is not None \
        and user.organization_id == instrument.owner.superior_id and user.has_role(Role.defence_approver)


def is_approver(user, instrument: Instrument) -> bool:
    return is_unit_reviewer(user, instrument) or is_superior_approver(user, instrument)


def require_operator(actor, instrument: Instrument) -> None:
    if not is_operator_of(actor, instrument.owner_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators do this."))


def get_visible_instrument(instrument_id: int, viewer: Viewer) -> Instrument:
    """The listing, or 404 when it does not exist for this viewer (its existence is not revealed)."""
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or not can_see(viewer, instrument):
        raise NotFound(_("No such instrument."))
    return instrument


# ---------------------------------------------------------------- the directory of other resources


def may_edit_resources(actor, organization_id: int) -> bool:
    """The unit's instrument operators, and the system administrator for any unit."""
    return is_operator_of(actor, organization_id) or (_signed_in(actor) and actor.has_role(Role.system_admin))


def names_resource_unit(actor) -> bool:
    """Whether the actor names the unit of a new resource (the system administrator) rather than listing its own."""
    return _signed_in(actor) and actor.has_role(Role.system_admin)


def may_see_resource(actor, resource: Resource) -> bool:
    published = resource.is_published and resource.organization.status == OrgStatus.verified
    return published or may_edit_resources(actor, resource.organization_id)


def get_visible_resource(resource_id: int, actor) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None or not may_see_resource(actor, resource):
        raise NotFound(_("No such resource."))
    return resource


# ---------------------------------------------------------------- a defence unit's clearances


def may_manage_clearances(actor, unit) -> bool:
    """A verified defence unit's own operators and confidentiality reviewers."""
    return (_signed_in(actor) and not actor.is_disabled
            and actor.organization_id == unit.id and unit.kind == OrgKind.defence_unit
            and unit.status == OrgStatus.verified and actor.has_role(Role.provider_operator, Role.defence_approver))


def require_clearance_manager(actor, unit) -> None:
    if not may_manage_clearances(actor, unit):
        raise PermissionDenied(_("Only an operator or defence approver of this defence unit manages its clearances."))


# ---------------------------------------------------------------- catalogue imports


def may_see_import_job(user, job) -> bool:
    """A catalogue import job, its progress, result and errors: the instrument operators of its unit only."""
    return is_operator_of(user, job.organization_id)


def get_visible_import_job(user, job_id: int) -> ImportJob:
    """The job if the person may see it; otherwise 404, so another unit's jobs are not even revealed."""
    job = db.session.get(ImportJob, job_id)
    if job is None or not may_see_import_job(user, job):
        raise NotFound(_("No such import job."))
    return job
