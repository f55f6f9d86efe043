"""Organisation services: registration, creation, verification, suspension, profile changes, relations."""

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..audit import chain as audit
from ..core import uscc as uscc_rules
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from ..db import db
from . import access, tokens
from .models import Organization, OrgRelation, RoleGrant, User
from .roles import OrgKind, OrgStatus, RelationKind, Role

_REGION_RE = re.compile(r"^\d{6}$")


@dataclass
class SmeProfile:
    staff_count: int | None = None
    annual_revenue_fen: int | None = None
    total_assets_fen: int | None = None
    tech_sme_no: str | None = None


@dataclass
class FirstUser:
    username: str
    password: str
    email: str


def get_organization(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        raise NotFound(_("No such organisation."))
    return org


def check_uscc(raw: str) -> str:
    """Validate a USCC and refuse a duplicate; errors name the field."""
    try:
        code = uscc_rules.validate(raw)
    except uscc_rules.USCCError as exc:
        raise ValidationFailed(_("The unified social credit code is invalid: %(why)s.", why=str(exc)),
                               code="invalid_uscc", fields={"uscc": str(exc)}) from exc
    if db.session.scalar(select(Organization.id).where(Organization.uscc == code)):
        raise _duplicate_uscc()
    return code


def _duplicate_uscc() -> Conflict:
    return Conflict(_("An organisation with this unified social credit code is already registered."),
                    code="duplicate_uscc", fields={"uscc": _("already registered")})


def _check_region(region_code: str | None, code: str) -> str:
    region = (region_code or "").strip() or uscc_rules.region_code(code)
    if not _REGION_RE.match(region):
        raise ValidationFailed(_("The region code must be a 6-digit administrative division code."),
                               fields={"region_code": _("6 digits expected")})
    return region


def _check_superior(kind: OrgKind, superior_id: int | None) -> int | None:
    if kind != OrgKind.defence_unit:
        if superior_id is not None:
            raise ValidationFailed(_("Only a defence unit has a superior authority."),
                                   fields={"superior_id": _("only for defence units")})
        return None
    if superior_id is None:
        raise ValidationFailed(_("A defence unit needs its superior authority."),
                               fields={"superior_id": _("required for a defence unit")})
    superior = db.session.get(Organization, superior_id)
    if superior is None or superior.kind != OrgKind.authority:
        raise ValidationFailed(_("The superior must be a registered superior authority."),
                               fields={"superior_id": _("not a superior authority")})
    return superior_id


# Column sizes: longer text is refused by name instead of failing in the database.
TEXT_LIMITS = {"contact_name": 100, "contact_phone": 40, "contact_email": 254, "address": 300,
               "actual_controller": 200}
SME_LIMITS = {"staff_count": 2**31 - 1, "annual_revenue_fen": 2**63 - 1, "total_assets_fen": 2**63 - 1}


def _text(key: str, value) -> str | None:
    text = None if value is None else str(value).strip()
    if text and len(text) > TEXT_LIMITS[key]:
        raise ValidationFailed(_("Too long."), fields={key: _("at most %(n)d characters", n=TEXT_LIMITS[key])})
    if text and key == "contact_email":
        from .users import check_email

        text = check_email(text, key)
    return text or None


def _apply_sme(org: Organization, sme: SmeProfile | dict | None) -> None:
    """Set the SME profile: a SmeProfile replaces it, a dict (a partial change) keeps the figures it leaves out."""
    if sme is None:
        return
    if org.kind != OrgKind.enterprise:
        raise ValidationFailed(_("Only an enterprise has an SME profile."), fields={"sme": _("only for enterprises")})
    if isinstance(sme, dict):
        current = SmeProfile(org.sme_staff_count, org.sme_annual_revenue_fen, org.sme_total_assets_fen,
                             org.tech_sme_no)
        sme = SmeProfile(**(vars(current) | sme))
    for name, limit in SME_LIMITS.items():
        value = getattr(sme, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit):
            raise ValidationFailed(_("SME figures are whole numbers, zero or more."),
                                   fields={f"sme.{name}": _("whole number ≥ 0 expected")})
    if sme.tech_sme_no is not None and len(str(sme.tech_sme_no).strip()) > 64:
        raise ValidationFailed(_("Too long."), fields={"sme.tech_sme_no": _("at most %(n)d characters", n=64)})
    org.sme_staff_count = sme.staff_count
    org.sme_annual_revenue_fen = sme.annual_revenue_fen
    org.sme_total_assets_fen = sme.total_assets_fen
    org.tech_sme_no = (sme.tech_sme_no or "").strip() or None


def create_organization(*, actor, name: str, uscc: str, kind: str, region_code: str | None = None,
                        superior_id: int | None = None, actual_controller: str | None = None,
                        sme: SmeProfile | None = None, first_user: FirstUser | None = None,
                        contact: dict | None = None, verified: bool = False) -> Organization:
    """Register an organisation (self-registration of an enterprise when actor is None)."""
    from . import users  # users imports this module's getters

    is_admin = actor is not None and actor.has_role(Role.system_admin)
    try:
        org_kind = OrgKind(kind)
    except ValueError as exc:
        raise ValidationFailed(_("Unknown organisation kind."), fields={"kind": _("unknown kind")}) from exc
    if not is_admin:
        if actor is not None:
            raise PermissionDenied(_("Only the system administrator creates organisations."))
        if org_kind != OrgKind.enterprise or first_user is None:
            raise PermissionDenied(_("Only an enterprise registers itself, together with its first user."),
                                   code="self_registration_enterprise_only")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed(_("The organisation name is required (at most 200 characters)."),
                               fields={"name": _("required, at most 200 characters")})
    code = check_uscc(uscc)
    org = Organization(name=name, uscc=code, kind=org_kind.value, region_code=_check_region(region_code, code),
                       superior_id=_check_superior(org_kind, superior_id),
                       actual_controller=_text("actual_controller", actual_controller), status=OrgStatus.pending)
    for key, value in (contact or {}).items():
        if key in {"contact_name", "contact_phone", "contact_email", "address"}:
            setattr(org, key, _text(key, value))
    _apply_sme(org, sme)
    db.session.add(org)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same code committed first (PostgreSQL)
        raise _duplicate_uscc() from exc
    audit.append("org.created", actor=actor, organization_id=org.id, object_type="organization", object_id=org.id,
                 details={"name": org.name, "uscc": org.uscc, "kind": org.kind, "self_registration": actor is None})
    if first_user is not None:
        users.create_user(actor=actor, username=first_user.username, password=first_user.password,
                          email=first_user.email, organization=org, confirmed=False, field_prefix="first_user.")
    if verified:
        verify_organization(actor=actor, org=org)
    return org


def verify_organization(*, actor, org: Organization) -> Organization:
    """Verify (or reinstate) an organisation; its first user becomes manager, an enterprise's gets sme_user."""
    if not (actor is not None and actor.has_role(Role.system_admin)):
        raise PermissionDenied(_("Only the system administrator verifies organisations."))
    if org.status == OrgStatus.verified:
        raise InvalidState(_("The organisation is already verified."))
    members = [u for u in org.users if not u.is_disabled]
    if org.status == OrgStatus.pending and members and members[0].email_confirmed_at is None:
        raise Conflict(_("The first user has not confirmed the email address yet."), code="email_not_confirmed")
    org.status = OrgStatus.verified
    org.verified_at = org.verified_at or now_utc()
    if members and not any(u.is_org_manager for u in members):
        first = members[0]
        first.is_org_manager = True
        if org.kind == OrgKind.enterprise and Role.sme_user not in first.roles:
            db.session.add(RoleGrant(user=first, role=Role.sme_user, granted_by_id=actor.id))
            audit.append("role.granted", actor=actor, organization_id=org.id, object_type="user",
                         object_id=first.id, details={"role": Role.sme_user.value, "reason": "organisation verified"})
    db.session.flush()
    audit.append("org.verified", actor=actor, organization_id=org.id, object_type="organization", object_id=org.id,
                 details={"manager_id": next((u.id for u in members if u.is_org_manager), None)})
    return org


def suspend_organization(*, actor, org: Organization, reason: str = "") -> Organization:
    if not (actor is not None and actor.has_role(Role.system_admin)):
        raise PermissionDenied(_("Only the system administrator suspends organisations."))
    if org.status == OrgStatus.suspended:
        raise InvalidState(_("The organisation is already suspended."))
    if actor.organization_id == org.id:
        raise PermissionDenied(_("Administrators cannot suspend their own organisation."))
    org.status = OrgStatus.suspended
    # Members' sessions end at once and their API tokens are revoked (reinstating the organisation revives none).
    db.session.execute(update(User).where(User.organization_id == org.id)
                       .values(session_version=User.session_version + 1).execution_options(synchronize_session=False))
    tokens.revoke_all(db.session.scalars(select(User.id).where(User.organization_id == org.id)))
    audit.append("org.suspended", actor=actor, organization_id=org.id, object_type="organization", object_id=org.id,
                 details={"reason": reason})
    return org


def update_organization(*, actor, org: Organization, changes: dict) -> Organization:
    """Apply allowed changes; a field the actor may not change is refused by name, nothing is half-written."""
    allowed = access.editable_org_fields(actor, org)
    refused = sorted(k for k in changes if k not in allowed)
    if refused:
        if not allowed:
            raise PermissionDenied(_("You may not change this organisation."))
        raise PermissionDenied(_("You may not change these fields: %(f)s.", f=", ".join(refused)),
                               code="field_not_allowed", fields={k: _("not allowed") for k in refused})
    before = {k: getattr(org, k, None) for k in changes if k != "sme"}
    for key, value in changes.items():
        if key == "sme":
            _apply_sme(org, value)
        elif key == "dishonest":
            if not isinstance(value, bool):
                raise ValidationFailed(_("dishonest must be true or false."), fields={"dishonest": _("boolean")})
            org.dishonest = value
        elif key == "region_code":
            org.region_code = _check_region(value, org.uscc)
        elif key == "superior_id":
            org.superior_id = _check_superior(org.org_kind, value)
        elif key == "name":
            value = (value or "").strip()
            if not value or len(value) > 200:
                raise ValidationFailed(_("The organisation name is required."), fields={"name": _("required")})
            org.name = value
        else:
            setattr(org, key, _text(key, value))
    db.session.flush()
    action = "org.dishonest_flag" if set(changes) == {"dishonest"} else "org.updated"
    audit.append(action, actor=actor, organization_id=org.id, object_type="organization", object_id=org.id,
                 details={"fields": sorted(changes), "before": before,
                          "after": {k: getattr(org, k, None) for k in before}})
    return org


def add_relation(*, actor, org: Organization, other_id: int, kind: str) -> OrgRelation:
    if not (actor is not None and actor.has_role(Role.system_admin)):
        raise PermissionDenied(_("Only the system administrator registers relations."))
    try:
        relation_kind = RelationKind(kind)
    except ValueError as exc:
        raise ValidationFailed(_("Unknown relation kind."), fields={"kind": _("unknown kind")}) from exc
    other = db.session.get(Organization, other_id) if isinstance(other_id, int) else None
    if other is None:
        raise ValidationFailed(_("The other organisation does not exist."), fields={"other_id": _("not found")})
    if other.id == org.id:
        raise ValidationFailed(_("An organisation cannot be related to itself."), fields={"other_id": _("same")})
    exists = db.session.scalar(select(OrgRelation.id).where(
        OrgRelation.organization_id == org.id, OrgRelation.other_id == other.id, OrgRelation.kind == relation_kind))
    if exists:
        raise Conflict(_("This relation is already registered."), code="duplicate_relation")
    relation = OrgRelation(organization_id=org.id, other_id=other.id, kind=relation_kind.value,
                           created_by_id=actor.id)
    db.session.add(relation)
    db.session.flush()
    audit.append("org.relation_added", actor=actor, organization_id=org.id, object_type="org_relation",
                 object_id=relation.id, details={"other_id": other.id, "kind": relation.kind})
    return relation


def relations_query(org: Organization):
    """Relations in both directions: the voucher rules treat a tie as mutual."""
    return select(OrgRelation).where(
        (OrgRelation.organization_id == org.id) | (OrgRelation.other_id == org.id)).order_by(OrgRelation.id)


def relations_of(org: Organization) -> list[OrgRelation]:
    return list(db.session.scalars(relations_query(org)))
