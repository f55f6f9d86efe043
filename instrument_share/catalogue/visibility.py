"""The one place that decides what a viewer sees of an instrument.

Every output — pages, API, search rows (and so search, filters, sorting, facets), exports, feeds, sitemap — asks
`viewer_level` and `project`; nothing reads a restricted field of a defence listing any other way.
"""

import json
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from ..accounts.models import Organization
from ..accounts.roles import OrgKind, OrgStatus, Role
from ..db import db
from .fields import LEVEL_ORDER, RESTRICTABLE, Status, Visibility
from .models import Clearance, Instrument


@dataclass(frozen=True)
class Viewer:
    """What about a person matters for visibility, computed once per request."""

    user_id: int | None = None
    registered: bool = False  # a user of a verified organisation
    organization_id: int | None = None
    cleared_by: frozenset[int] = field(default_factory=frozenset)  # defence units that cleared the organisation
    full_units: frozenset[int] = field(default_factory=frozenset)  # the own unit, and units whose listings it approves

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Viewer()


def viewer_for(user) -> Viewer:
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    org = user.organization
    registered = org.status == OrgStatus.verified and not user.is_disabled
    cleared = frozenset(db.session.scalars(select(Clearance.unit_id).where(Clearance.organization_id == org.id)))
    full = {org.id}
    if user.has_role(Role.defence_approver) and org.kind == OrgKind.authority:
        full |= set(db.session.scalars(select(Organization.id).where(Organization.superior_id == org.id)))
    return Viewer(user.id, registered, org.id, cleared if registered else frozenset(), frozenset(full))


def viewer_level(viewer: Viewer, owner_id: int) -> Visibility:
    if owner_id in viewer.full_units:
        return Visibility.hidden
    if owner_id in viewer.cleared_by:
        return Visibility.cleared
    if viewer.registered:
        return Visibility.registered
    return Visibility.public


def approved_visibility(instrument: Instrument) -> dict[str, Visibility]:
    """Each field's approved visibility; civilian listings show everything, unlisted defence fields are hidden."""
    if not instrument.is_defence:
        return dict.fromkeys(RESTRICTABLE, Visibility.public)
    stored = json.loads(instrument.field_visibility or "{}")
    return {name: Visibility(stored.get(name, Visibility.hidden)) for name in RESTRICTABLE}


def can_see(viewer: Viewer, instrument: Instrument) -> bool:
    """Unpublished listings exist only for the owning unit (and a defence listing's approvers)."""
    return instrument.status == Status.published or instrument.owner_id in viewer.full_units


def visible_fields(instrument: Instrument, level: Visibility) -> set[str]:
    rank = LEVEL_ORDER[level]
    return {name for name, vis in approved_visibility(instrument).items() if LEVEL_ORDER[vis] <= rank}


def large_threshold_fen() -> int:
    return current_app.config["LARGE_INSTRUMENT_THRESHOLD_FEN"]


def project(instrument: Instrument, level: Visibility) -> dict:
    """The instrument as a viewer at `level` may see it: absent fields are simply not there."""
    shown = visible_fields(instrument, level)
    data = {"id": instrument.id, "status": instrument.status, "is_defence": instrument.is_defence}
    for name in RESTRICTABLE:
        if name in shown:
            data[name] = instrument.modes if name == "service_modes" else getattr(instrument, name)
    if "original_value_fen" in shown:
        data["is_large"] = instrument.original_value_fen >= large_threshold_fen()
    return data
