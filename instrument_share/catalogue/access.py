"""Who may act on a listing (pages, API and services ask these)."""

from ..accounts.roles import OrgKind, OrgStatus, Role
from .models import Instrument

PROVIDER_KINDS = frozenset({OrgKind.university, OrgKind.research_institute, OrgKind.key_lab, OrgKind.defence_unit})


def _active(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and not user.is_disabled \
        and user.organization.status == OrgStatus.verified


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


def may_see_import_job(user, job) -> bool:
    """A catalogue import job, its progress, result and errors: the instrument operators of its unit only."""
    return is_operator_of(user, job.organization_id)
