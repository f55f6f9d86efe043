"""Who may read and change organisations and users ("Who may read what" in docs/api.md): checks, list filters and
loaders that answer NotFound for what the viewer may not know exists; pages, API and services ask these."""

from flask_babel import gettext as _
from sqlalchemy import select

from ..core.errors import NotFound, PermissionDenied
from ..db import db
from .models import Organization, User
from .roles import COMMISSION_ROLES, OrgStatus, Role

PUBLIC_ORG_FIELDS = ("id", "name", "kind", "region_code", "status")


def signed_in(actor) -> bool:
    """A real, enabled account (an anonymous visitor or a disabled user is nobody)."""
    return actor is not None and getattr(actor, "is_authenticated", False) and not getattr(actor, "is_disabled", False)


def is_commission(actor) -> bool:
    """Acts for the science commission: signed in, holds a commission role, and belongs to a verified organisation.

    The role alone is not enough: a role granted inside an organisation still pending verification (or suspended)
    must not open every unit's ledger, reports and voucher claims.
    """
    return signed_in(actor) and actor.has_role(*COMMISSION_ROLES) and actor.organization.status == OrgStatus.verified


def _is(user, *roles: Role) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.has_role(*roles)


def is_member(user, org: Organization) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.organization_id == org.id


def can_see_org(user, org: Organization) -> bool:
    """Verified organisations are public; others only to their own users and the administrators that handle them."""
    if org.status == OrgStatus.verified:
        return True
    return is_member(user, org) or _is(user, Role.system_admin) or is_commission(user)


def sees_every_org(user) -> bool:
    """Lists every organisation, whatever its status (others list the verified ones)."""
    return _is(user, Role.system_admin) or is_commission(user)


def get_visible_org(viewer, org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None or not can_see_org(viewer, org):
        raise NotFound(_("No such organisation."))
    return org


def can_read_org_private(user, org: Organization) -> bool:
    """SME profile, actual controller, relations, contacts, voucher eligibility."""
    return is_member(user, org) or _is(user, Role.system_admin) or is_commission(user)


def is_manager_of(user, org: Organization) -> bool:
    return is_member(user, org) and user.is_org_manager and not user.is_disabled


def can_manage_users_of(user, org: Organization) -> bool:
    return is_manager_of(user, org) or _is(user, Role.system_admin)


def editable_org_fields(user, org: Organization) -> frozenset[str]:
    """The fields each kind of editor may change (mass-assignment guard, ASVS 15.3.3)."""
    fields: set[str] = set()
    if is_manager_of(user, org) and org.status == OrgStatus.verified:
        # docs/api.md: the manager changes contact data and the SME profile; the actual controller (related parties
        # for the voucher rules) is registered by the system administrator.
        fields |= {"contact_name", "contact_phone", "contact_email", "address", "sme"}
    if _is(user, Role.system_admin):
        fields |= {"name", "region_code", "superior_id", "actual_controller", "contact_name", "contact_phone",
                   "contact_email", "address", "sme"}
    if is_commission(user) and user.has_role(Role.commission_officer):
        fields.add("dishonest")
    return frozenset(fields)


def can_see_user(viewer, user: User) -> bool:
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return False
    return viewer.id == user.id or viewer.organization_id == user.organization_id or _is(
        viewer, Role.system_admin, Role.security_admin)


def sees_every_user(viewer) -> bool:
    return _is(viewer, Role.system_admin, Role.security_admin)


def visible_users(viewer):
    """The users `viewer` may list: administrators all, an organisation's manager its own; others are refused."""
    stmt = select(User)
    if sees_every_user(viewer):
        return stmt
    if not viewer.is_org_manager:
        raise PermissionDenied(_("Only administrators and organisation managers list users."))
    return stmt.where(User.organization_id == viewer.organization_id)


def get_visible_user(viewer, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not can_see_user(viewer, user):
        raise NotFound(_("No such user."))
    return user


def get_colleague(viewer, user_id: int) -> User:
    """A user of the viewer's own organisation (the organisation page acts on colleagues only), or NotFound."""
    user = db.session.get(User, user_id)
    if user is None or user.organization_id != viewer.organization_id:
        raise NotFound(_("No such user."))
    return user
