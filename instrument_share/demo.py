"""A believable Nanjing demo data set: `flask demo seed` (the run command uses it on first start only)."""

from .accounts.models import Organization, OrgRelation, RoleGrant, User
from .accounts.roles import OrgKind, OrgStatus, Role
from .accounts.secrets import hash_password
from .audit import chain
from .core.clock import now_utc
from .core.uscc import check_character
from .db import db
from .demo_catalogue import seed_catalogue
from .demo_ledger import seed_ledger
from .demo_vouchers import seed_vouchers

DEMO_PASSWORD = "Nanjing-demo-2026"  # noqa: S105  demo data only, printed on purpose


def uscc(first17: str) -> str:
    return first17 + check_character(first17)


# name, first 17 characters of the USCC, kind, superior key, SME profile (staff, revenue fen, assets fen, tech no)
ORGANISATIONS = {
    "commission": ("南京市科学技术局", "11320100014116753", OrgKind.commission, None, None),
    "authority": ("江苏省国防科学技术工业办公室", "11320000014000896", OrgKind.authority, None, None),
    "defence14": ("南京长江电子信息研究所", "12320100466000014", OrgKind.defence_unit, "authority", None),
    "defence55": ("南京紫金精密机械研究所", "12320100466000055", OrgKind.defence_unit, "authority", None),
    "nju": ("南京大学", "12100000466007041", OrgKind.university, None, None),
    "seu": ("东南大学", "12100000466006770", OrgKind.university, None, None),
    "keylab": ("固体微结构物理国家重点实验室", "12320100MB1C00019", OrgKind.key_lab, None, None),
    "institute": ("江苏省产业技术研究院", "12320000MB0U11236", OrgKind.research_institute, None, None),
    "sme_chip": ("南京芯测科技有限公司", "91320115MA1W8Q2B0", OrgKind.enterprise, None,
                 (86, 4_200_000_000, 3_100_000_000, "202432011503456")),
    "sme_bio": ("南京绿源生物医药有限公司", "91320192MA1XK7N4T", OrgKind.enterprise, None,
                (143, 9_800_000_000, 7_400_000_000, "202432019201187")),
    "sme_suzhou": ("苏州华光新材料科技有限公司", "91320594MA1P3D6R8", OrgKind.enterprise, None,
                   (55, 2_600_000_000, 1_900_000_000, None)),
    "sme_new": ("南京启明光电技术有限公司", "91320113MA7H2K5L1", OrgKind.enterprise, None,
                (12, 300_000_000, 450_000_000, None)),
}

# Central-government registrations carry a Beijing code; their Nanjing campuses are in these districts.
REGION_OVERRIDES = {"nju": "320113", "seu": "320115"}

# username, organisation key, roles, manager
USERS = [
    ("sysadmin", "commission", [Role.system_admin], False),
    ("secadmin", "commission", [Role.security_admin], False),
    ("auditadmin", "commission", [Role.audit_admin], False),
    ("officer", "commission", [Role.commission_officer], True),
    ("auditor1", "commission", [Role.commission_auditor], False),
    ("auditor2", "commission", [Role.commission_auditor], False),
    ("approver_gf", "authority", [Role.defence_approver], True),
    ("op_cj", "defence14", [Role.provider_operator], True),
    ("secrecy_cj", "defence14", [Role.defence_approver], False),
    ("op_zj", "defence55", [Role.provider_operator], True),
    ("secrecy_zj", "defence55", [Role.defence_approver], False),
    ("op_nju", "nju", [Role.provider_operator], True),
    ("op_seu", "seu", [Role.provider_operator, Role.sme_user], True),
    ("op_keylab", "keylab", [Role.provider_operator], True),
    ("op_jitri", "institute", [Role.provider_operator], True),
    ("sme_chip", "sme_chip", [Role.sme_user], True),
    ("sme_bio", "sme_bio", [Role.sme_user], True),
    ("sme_suzhou", "sme_suzhou", [Role.sme_user], True),
]


def seed() -> list[tuple[str, str, str]]:
    """Insert the data set in the caller's transaction; return (username, roles, organisation) for display."""
    now = now_utc()
    orgs: dict[str, Organization] = {}
    for key, (name, first17, kind, superior, sme) in ORGANISATIONS.items():
        org = Organization(name=name, uscc=uscc(first17), kind=kind.value,
                           region_code=REGION_OVERRIDES.get(key, first17[2:8]),
                           superior=orgs.get(superior) if superior else None,
                           status=(OrgStatus.pending if key == "sme_new" else OrgStatus.verified).value,
                           verified_at=None if key == "sme_new" else now,
                           contact_email=f"contact@{key}.example.cn")
        if sme:
            org.sme_staff_count, org.sme_annual_revenue_fen, org.sme_total_assets_fen, org.tech_sme_no = sme
        db.session.add(org)
        orgs[key] = org
    db.session.flush()
    db.session.add_all([
        OrgRelation(organization_id=orgs["sme_chip"].id, other_id=orgs["nju"].id, kind="co_building"),
        OrgRelation(organization_id=orgs["sme_bio"].id, other_id=orgs["sme_suzhou"].id, kind="same_controller"),
    ])
    password_hash = hash_password(DEMO_PASSWORD)
    logins, users = [], {}
    for username, org_key, roles, manager in [*USERS, ("sme_new", "sme_new", [], True)]:
        user = User(username=username, email=f"{username}@demo.example.cn", password_hash=password_hash,
                    organization=orgs[org_key], is_org_manager=manager and not any(
                        r in (Role.system_admin, Role.security_admin, Role.audit_admin) for r in roles),
                    email_confirmed_at=now)
        user.role_grants = [RoleGrant(role=r.value) for r in roles]
        db.session.add(user)
        users[username] = user
        logins.append((username, ",".join(r.value for r in roles) or "(pending enterprise)", orgs[org_key].name))
    db.session.flush()
    instruments = seed_catalogue(orgs, users)
    ledger = seed_ledger(orgs, users)
    vouchers = seed_vouchers(orgs, users)
    chain.append("demo.seeded", details={"organisations": len(orgs), "users": len(logins), "instruments": instruments,
                                         "ledger": ledger, "vouchers": vouchers})
    return logins
