"""Tokens, /me, organisations, relations, invitations, users and roles."""

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts import access, auth, organizations, tokens, users
from ..accounts.models import Invitation, Organization, User
from ..accounts.roles import OrgStatus, Role
from ..core.clock import local_iso
from ..core.errors import NotAuthenticated, PermissionDenied, ValidationFailed
from ..db import db
from . import schemas
from .core import current_api_user, operation, paginate, parse_body, query_int, require_user
from .serializers import invitation_json, organization_json, relation_json, user_json

# A refusal after the right password may say why; before it, every refusal is invalid_credentials (docs/api.md v1.1).
LOGIN_ERRORS = {
    "invalid_credentials": (401, "invalid_credentials"),
    "disabled": (403, "account_disabled"),
    "email_not_confirmed": (403, "email_not_confirmed"),
    "organization_suspended": (403, "organization_suspended"),
}


@operation("/tokens", "POST", "Create a personal access token (HTTP Basic credentials)", tag="auth",
           body=schemas.TokenRequest, auth="basic", status=201,
           errors={401: {"invalid_credentials": "Unknown account, wrong password or code, or sign-in locked (per "
                                                 "account and source address, and per account); one answer for all",
                         "totp_required": "The account uses two-factor login: send the code as \"totp\""},
                   403: {"totp_enrolment_required": "The roles require two-factor login, not yet enrolled",
                         "account_disabled": "The account is disabled",
                         "email_not_confirmed": "The email address is not confirmed yet",
                         "organization_suspended": "The organisation is suspended"}})
def create_token():
    body = parse_body(schemas.TokenRequest, allow_empty=True)
    creds = request.authorization
    if creds is None or creds.type != "basic":
        raise NotAuthenticated(_("Send the user name and password with HTTP Basic authentication."))
    error = None
    with db.transaction():
        result = auth.authenticate(creds.username or "", creds.password or "", remote_addr=request.remote_addr)
        user = result.user
        if not result.ok:
            error = LOGIN_ERRORS[result.error]
        elif user.has_totp and not body.totp:
            error = (401, "totp_required")
        elif user.has_totp and not auth.check_totp(user, body.totp, remote_addr=request.remote_addr):
            error = (401, "invalid_credentials")  # a wrong code answers like a wrong password
        elif user.needs_totp and not user.has_totp:
            error = (403, "totp_enrolment_required")
        else:
            auth.complete_login(user, method="api_token", remote_addr=request.remote_addr)
            token, secret = tokens.create_token(user, body.name or "API")
    if error:
        status, code = error
        messages = {"invalid_credentials": auth.invalid_credentials_message(),
                    "totp_required": _("This account needs a two-factor code: send it as \"totp\"."),
                    "totp_enrolment_required": _("Your roles require two-factor login: enrol in the web profile "
                                                 "first.")}
        refusal = NotAuthenticated if status == 401 else PermissionDenied
        raise refusal(messages.get(code, _("Sign-in refused.")), code=code)
    return jsonify({"id": token.id, "token": secret, "name": token.name,
                    "expires_at": local_iso(token.expires_at)}), 201


@operation("/tokens", "GET", "List my active tokens", tag="auth")
def list_tokens():
    user = require_user()
    return jsonify(paginate(tokens.user_tokens_query(user), lambda t: {
        "id": t.id, "name": t.name, "prefix": t.prefix, "created_at": local_iso(t.created_at),
        "expires_at": local_iso(t.expires_at), "last_used_at": local_iso(t.last_used_at)}, db.session))


@operation("/tokens/<int:token_id>", "DELETE", "Revoke one of my tokens", tag="auth")
def revoke_token(token_id: int):
    user = require_user()
    with db.transaction():
        tokens.revoke_token(user, token_id)
    return jsonify({"id": token_id, "revoked": True})


@operation("/me", "GET", "The calling user, organisation and roles", tag="users")
def me():
    user = require_user()
    body = user_json(user)
    return jsonify(body | {"user": user_json(user), "organization": organization_json(user.organization, user)})



@operation("/organizations", "POST", "Register an organisation (self-registration of an enterprise without token)",
           tag="organizations", body=schemas.OrganizationCreate, auth="optional", status=201)
def create_organization():
    body = parse_body(schemas.OrganizationCreate)
    actor = current_api_user()
    sme = organizations.SmeProfile(**body.sme.model_dump()) if body.sme else None
    first = organizations.FirstUser(**body.first_user.model_dump()) if body.first_user else None
    contact = body.model_dump(include={"contact_name", "contact_phone", "contact_email", "address"})
    with db.transaction():
        org = organizations.create_organization(
            actor=actor, name=body.name, uscc=body.uscc, kind=body.kind, region_code=body.region_code,
            superior_id=body.superior_id, actual_controller=body.actual_controller, sme=sme, first_user=first,
            contact=contact)
    viewer = actor or (org.users[0] if org.users else None)
    return jsonify(organization_json(org, viewer)), 201


@operation("/organizations", "GET", "List organisations (verified ones for everyone; all for administrators)",
           tag="organizations", auth="optional", query=[("status", "string"), ("kind", "string"), ("q", "string")])
def list_organizations():
    viewer = current_api_user()
    stmt = select(Organization).order_by(Organization.id)
    sees_all = access.sees_every_org(viewer)
    status = request.args.get("status")
    if not sees_all:
        stmt = stmt.where(Organization.status == OrgStatus.verified)
    elif status:
        stmt = stmt.where(Organization.status == status)
    if kind := request.args.get("kind"):
        stmt = stmt.where(Organization.kind == kind)
    if q := request.args.get("q"):
        if len(q) > 200:  # longer than any name; SQLite also refuses very long LIKE patterns
            raise ValidationFailed(_("The search text is too long."), fields={"q": _("at most 200 characters")})
        match = Organization.name.contains(q.strip())
        if viewer is not None and (sees_all or viewer.has_role(Role.security_admin)):
            match = match | (Organization.uscc == q.strip().upper())  # the code is not public: no search oracle
        stmt = stmt.where(match)
    return jsonify(paginate(stmt, lambda o: organization_json(o, viewer), db.session))


@operation("/organizations/<int:org_id>", "GET", "Read an organisation", tag="organizations", auth="optional")
def get_organization(org_id: int):
    viewer = current_api_user()
    return jsonify(organization_json(access.get_visible_org(viewer, org_id), viewer))


@operation("/organizations/<int:org_id>", "PATCH", "Change an organisation", tag="organizations",
           body=schemas.OrganizationPatch)
def patch_organization(org_id: int):
    actor = require_user()
    body = parse_body(schemas.OrganizationPatch)
    changes = body.model_dump(exclude_unset=True)  # a partial "sme" object keeps the figures it leaves out
    with db.transaction():
        org = access.get_visible_org(actor, org_id)
        organizations.update_organization(actor=actor, org=org, changes=changes)
    return jsonify(organization_json(org, actor))


@operation("/organizations/<int:org_id>/verify", "POST", "Verify an organisation (system_admin)", tag="organizations")
def verify_organization(org_id: int):
    actor = require_user(Role.system_admin)
    with db.transaction():
        org = organizations.verify_organization(actor=actor, org=organizations.get_organization(org_id))
    return jsonify(organization_json(org, actor))


@operation("/organizations/<int:org_id>/suspend", "POST", "Suspend an organisation (system_admin)",
           tag="organizations", body=schemas.ReasonIn)
def suspend_organization(org_id: int):
    actor = require_user(Role.system_admin)
    body = parse_body(schemas.ReasonIn, allow_empty=True)
    with db.transaction():
        org = organizations.suspend_organization(actor=actor, org=organizations.get_organization(org_id),
                                                 reason=body.reason or "")
    return jsonify(organization_json(org, actor))


@operation("/organizations/<int:org_id>/relations", "POST", "Register a relation (system_admin)",
           tag="organizations", body=schemas.RelationCreate, status=201)
def add_relation(org_id: int):
    actor = require_user(Role.system_admin)
    body = parse_body(schemas.RelationCreate)
    with db.transaction():
        rel = organizations.add_relation(actor=actor, org=organizations.get_organization(org_id),
                                         other_id=body.other_id, kind=body.kind)
    return jsonify(relation_json(rel)), 201


@operation("/organizations/<int:org_id>/relations", "GET", "Relations of an organisation", tag="organizations")
def list_relations(org_id: int):
    viewer = require_user()
    org = access.get_visible_org(viewer, org_id)
    if not access.can_read_org_private(viewer, org):
        raise PermissionDenied(_("Relations are visible to the organisation and the commission only."))
    return jsonify(paginate(organizations.relations_query(org), relation_json, db.session))


@operation("/organizations/<int:org_id>/invitations", "POST", "Invite a colleague (the organisation's manager)",
           tag="organizations", body=schemas.InvitationCreate, status=201)
def create_invitation(org_id: int):
    actor = require_user()
    body = parse_body(schemas.InvitationCreate)
    with db.transaction():
        inv = users.invite(actor=actor, org=access.get_visible_org(actor, org_id), email=body.email, role=body.role)
    return jsonify(invitation_json(inv)), 201


@operation("/organizations/<int:org_id>/invitations", "GET", "Open invitations (the organisation's manager)",
           tag="organizations")
def list_invitations(org_id: int):
    actor = require_user()
    org = access.get_visible_org(actor, org_id)
    if not access.can_manage_users_of(actor, org):
        raise PermissionDenied(_("Only the organisation's manager sees invitations."))
    stmt = select(Invitation).where(Invitation.organization_id == org.id).order_by(Invitation.id.desc())
    return jsonify(paginate(stmt, invitation_json, db.session))


@operation("/users", "POST", "Create a user account without roles (system_admin)", tag="users",
           body=schemas.UserCreate, status=201)
def create_user():
    actor = require_user(Role.system_admin)
    body = parse_body(schemas.UserCreate)
    with db.transaction():
        org = db.session.get(Organization, body.organization_id)
        if org is None:
            raise ValidationFailed(_("No such organisation."), fields={"organization_id": _("not found")})
        user = users.create_user(actor=actor, username=body.username, password=body.password, email=body.email,
                                 organization=org)
    return jsonify(user_json(user)), 201


@operation("/users", "GET", "List users (administrators: all; a manager: the organisation's)", tag="users",
           query=[("organization_id", "integer")])
def list_users():
    actor = require_user()
    stmt = access.visible_users(actor).order_by(User.id)
    if access.sees_every_user(actor) and (org_id := query_int("organization_id")):
        stmt = stmt.where(User.organization_id == org_id)
    return jsonify(paginate(stmt, user_json, db.session))



@operation("/users/<int:user_id>", "GET", "Read a user", tag="users")
def get_user(user_id: int):
    return jsonify(user_json(access.get_visible_user(require_user(), user_id)))


@operation("/users/<int:user_id>/roles", "POST", "Grant roles (security_admin; a manager for business roles)",
           tag="users", body=schemas.RolesIn,
           errors={403: {"self_grant": "Nobody grants roles to themselves",
                         "role_not_allowed": "A manager grants only the business roles of the organisation's kind"},
                   409: {"role_conflict": "The roles may not be held together: an administrator role with any "
                                          "other, commission_auditor with commission_officer, or a role not "
                                          "allowed for the organisation's kind"}})
def grant_roles(user_id: int):
    actor = require_user()
    body = parse_body(schemas.RolesIn)
    with db.transaction():
        user = access.get_visible_user(actor, user_id)
        users.grant_roles(actor=actor, user=user, roles=users.parse_roles(body.roles))
    return jsonify(user_json(user))


@operation("/users/<int:user_id>/roles/<role>", "DELETE", "Remove a role (ends the user's sessions and API tokens)",
           tag="users", errors={403: {"self_grant": "Nobody removes their own roles"}})
def remove_role(user_id: int, role: str):
    actor = require_user()
    with db.transaction():
        user = access.get_visible_user(actor, user_id)
        users.remove_role(actor=actor, user=user, role=next(iter(users.parse_roles([role]))))
    return jsonify(user_json(user))


@operation("/users/<int:user_id>/disable", "POST", "Disable an account (ends its sessions and API tokens)", tag="users",
           body=schemas.ReasonIn)
def disable_user(user_id: int):
    actor = require_user()
    body = parse_body(schemas.ReasonIn, allow_empty=True)
    with db.transaction():
        user = users.set_disabled(actor=actor, user=access.get_visible_user(actor, user_id), disabled=True,
                                  reason=body.reason or "")
    return jsonify(user_json(user))


@operation("/users/<int:user_id>/enable", "POST", "Enable an account", tag="users")
def enable_user(user_id: int):
    actor = require_user()
    with db.transaction():
        user = users.set_disabled(actor=actor, user=access.get_visible_user(actor, user_id), disabled=False)
    return jsonify(user_json(user))
