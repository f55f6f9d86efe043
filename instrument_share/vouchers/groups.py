"""The group of an enterprise: organisations tied to it by control, transitively.

Members are linked by `same_controller`, `subsidiary` or `shareholding` relations in either direction, through any
chain, and by having the same actual controller (compared after NFKC normalisation, without white space, ignoring
case; an empty controller matches nobody). Relations are walked breadth first with one query per level.
"""

import unicodedata

from sqlalchemy import or_, select

from ..accounts.models import Organization, OrgRelation
from ..accounts.roles import RelationKind
from ..db import db

GROUP_RELATIONS = (RelationKind.same_controller.value, RelationKind.subsidiary.value, RelationKind.shareholding.value)
_CHUNK = 500  # ids per IN list, well inside every backend's parameter limit


def controller_key(name: str | None) -> str:
    """The comparable form of an actual controller's name; "" matches nobody."""
    if not name:
        return ""
    normalised = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in normalised if not ch.isspace()).casefold()


def _chunks(ids: list[int]):
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _related(frontier: set[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(frontier)):
        rows = db.session.execute(select(OrgRelation.organization_id, OrgRelation.other_id).where(
            OrgRelation.kind.in_(GROUP_RELATIONS),
            or_(OrgRelation.organization_id.in_(chunk), OrgRelation.other_id.in_(chunk))))
        for a, b in rows:
            found.update((a, b))
    return found


def _controller_keys(org_ids: set[int]) -> dict[int, str]:
    keys: dict[int, str] = {}
    for chunk in _chunks(sorted(org_ids)):
        rows = db.session.execute(select(Organization.id, Organization.actual_controller)
                                  .where(Organization.id.in_(chunk), Organization.actual_controller.is_not(None)))
        keys.update({org_id: key for org_id, name in rows if (key := controller_key(name))})
    return keys


def _orgs_by_controller() -> dict[str, set[int]]:
    """Every organisation by its controller key. Names are compared after NFKC normalisation, which SQL cannot do,
    so the (narrow) list is read, once per group computation and only when a member names a controller."""
    rows = db.session.execute(select(Organization.id, Organization.actual_controller)
                              .where(Organization.actual_controller.is_not(None)))
    by_key: dict[str, set[int]] = {}
    for org_id, name in rows:
        if key := controller_key(name):
            by_key.setdefault(key, set()).add(org_id)
    return by_key


def group_of(org_id: int) -> set[int]:
    """The organisation together with every member of its group."""
    by_key: dict[str, set[int]] | None = None
    members, frontier = {org_id}, {org_id}
    while frontier:
        found = _related(frontier)
        keys = _controller_keys(frontier)
        if keys and by_key is None:
            by_key = _orgs_by_controller()
        for key in keys.values():
            found |= by_key[key]
        frontier = found - members
        members |= frontier
    return members


def related_to(org_id: int) -> set[int]:
    """Organisations tied to this one by any relation, in either direction (a provider here is a related one)."""
    rows = db.session.execute(select(OrgRelation.organization_id, OrgRelation.other_id).where(
        or_(OrgRelation.organization_id == org_id, OrgRelation.other_id == org_id)))
    return {a if b == org_id else b for a, b in rows}
