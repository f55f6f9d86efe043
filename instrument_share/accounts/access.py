"""Who may read and change what ("Who may read what" in api.md), as plain predicates used by pages and API."""

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
        # api.md: the manager changes contact data and the SME profile; the actual controller (related parties
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
