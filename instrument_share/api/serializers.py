"""JSON shapes of accounts objects; a field the caller may not see is absent, not null."""

from ..accounts import access
from ..accounts.models import Invitation, Organization, OrgRelation, User
from ..core.clock import local_iso


def organization_json(org: Organization, viewer) -> dict:
    # Anyone sees only name, kind, region and status ("Who may read what"); everything else is absent.
    data = {key: getattr(org, key) for key in access.PUBLIC_ORG_FIELDS}
    if access.can_read_org_private(viewer, org):
        data |= {"uscc": org.uscc, "is_defence": org.kind == "defence_unit"}
        if org.superior_id is not None:
            data["superior_id"] = org.superior_id
        data |= {
            "actual_controller": org.actual_controller,
            "sme": {"staff_count": org.sme_staff_count, "annual_revenue_fen": org.sme_annual_revenue_fen,
                    "total_assets_fen": org.sme_total_assets_fen, "tech_sme_no": org.tech_sme_no},
            "dishonest": org.dishonest,
            "contact_name": org.contact_name, "contact_phone": org.contact_phone,
            "contact_email": org.contact_email, "address": org.address,
            "created_at": local_iso(org.created_at), "verified_at": local_iso(org.verified_at),
        }
    return data


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "email": user.email, "organization_id": user.organization_id,
            "roles": sorted(r.value for r in user.roles), "is_org_manager": user.is_org_manager,
            "is_disabled": user.is_disabled, "email_confirmed": user.email_confirmed_at is not None,
            "totp_enabled": user.has_totp, "created_at": local_iso(user.created_at)}


def relation_json(rel: OrgRelation) -> dict:
    return {"id": rel.id, "organization_id": rel.organization_id, "other_id": rel.other_id, "kind": rel.kind,
            "created_at": local_iso(rel.created_at)}


def invitation_json(inv: Invitation) -> dict:
    return {"id": inv.id, "organization_id": inv.organization_id, "email": inv.email, "role": inv.role,
            "expires_at": local_iso(inv.expires_at), "accepted_at": local_iso(inv.accepted_at)}
