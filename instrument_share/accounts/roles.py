"""Roles, which organisation kinds may hold them, and the rules that keep duties apart (MLPS level 3)."""

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class OrgKind(StrEnum):
    enterprise = "enterprise"
    university = "university"
    research_institute = "research_institute"
    key_lab = "key_lab"
    defence_unit = "defence_unit"
    authority = "authority"
    commission = "commission"


class OrgStatus(StrEnum):
    pending = "pending"
    verified = "verified"
    suspended = "suspended"


class RelationKind(StrEnum):
    shareholding = "shareholding"
    subsidiary = "subsidiary"
    co_building = "co_building"
    same_controller = "same_controller"
    same_legal_rep = "same_legal_rep"


class Role(StrEnum):
    sme_user = "sme_user"
    provider_operator = "provider_operator"
    defence_approver = "defence_approver"
    commission_auditor = "commission_auditor"
    commission_officer = "commission_officer"
    system_admin = "system_admin"
    security_admin = "security_admin"
    audit_admin = "audit_admin"


ADMIN_ROLES = frozenset({Role.system_admin, Role.security_admin, Role.audit_admin})
COMMISSION_ROLES = frozenset({Role.commission_auditor, Role.commission_officer})
TOTP_REQUIRED_ROLES = ADMIN_ROLES | COMMISSION_ROLES | {Role.defence_approver}

BUSINESS_ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.enterprise: frozenset({Role.sme_user}),
    OrgKind.university: frozenset({Role.provider_operator, Role.sme_user}),
    OrgKind.research_institute: frozenset({Role.provider_operator, Role.sme_user}),
    OrgKind.key_lab: frozenset({Role.provider_operator, Role.sme_user}),
    OrgKind.defence_unit: frozenset({Role.provider_operator, Role.defence_approver, Role.sme_user}),
    OrgKind.authority: frozenset({Role.defence_approver}),
    OrgKind.commission: frozenset({Role.commission_auditor, Role.commission_officer}),
}

ROLE_LABELS = {
    Role.sme_user: _l("SME user"),
    Role.provider_operator: _l("Instrument operator"),
    Role.defence_approver: _l("Defence approver"),
    Role.commission_auditor: _l("Commission auditor"),
    Role.commission_officer: _l("Commission officer"),
    Role.system_admin: _l("System administrator"),
    Role.security_admin: _l("Security administrator"),
    Role.audit_admin: _l("Audit administrator"),
}

KIND_LABELS = {
    OrgKind.enterprise: _l("Enterprise"),
    OrgKind.university: _l("University"),
    OrgKind.research_institute: _l("Research institute"),
    OrgKind.key_lab: _l("Key laboratory"),
    OrgKind.defence_unit: _l("Defence unit"),
    OrgKind.authority: _l("Superior authority"),
    OrgKind.commission: _l("Science and technology commission"),
}

STATUS_LABELS = {
    OrgStatus.pending: _l("Pending verification"),
    OrgStatus.verified: _l("Verified"),
    OrgStatus.suspended: _l("Suspended"),
}

RELATION_LABELS = {
    RelationKind.shareholding: _l("Shareholding"),
    RelationKind.subsidiary: _l("Subsidiary"),
    RelationKind.co_building: _l("Co-building"),
    RelationKind.same_controller: _l("Same actual controller"),
    RelationKind.same_legal_rep: _l("Same legal representative"),
}


def role_set_problem(roles: set[Role], org_kind: OrgKind) -> str | None:
    """Return why this combination of roles may not sit on one account of this organisation, or None."""
    admin = roles & ADMIN_ROLES
    if admin and len(roles) > 1:
        return str(_l("an administrator role cannot be combined with any other role"))
    if roles >= COMMISSION_ROLES:  # the auditor approves claims, the officer pays them: never one person
        return str(_l("the commission auditor and commission officer roles are never held by one account"))
    if not admin:
        allowed = BUSINESS_ROLES_BY_KIND[org_kind]
        bad = sorted(r.value for r in roles - allowed)
        if bad:
            return str(_l("role %(roles)s is not allowed for a %(kind)s", roles=", ".join(bad),
                          kind=KIND_LABELS[org_kind]))
    return None
