"""User services: accounts, role grants (with separation of duties), invitations, enabling and disabling."""

import re
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, NotFound, PermissionDenied, ValidationFailed
from ..db import db
from ..mail import outbox
from . import access, auth, secrets
from .models import AccountToken, Invitation, Organization, RoleGrant, User
from .roles import ADMIN_ROLES, BUSINESS_ROLES_BY_KIND, OrgStatus, Role, role_set_problem

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
CONFIRM_EMAIL_DAYS = 3
INVITATION_DAYS = 7


def check_email(raw: str, field: str = "email") -> str:
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(_("The email address is not valid."), fields={field: str(exc)}) from exc


def check_username(raw: str, field: str = "username") -> str:
    username = (raw or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(_("The user name must be 3–64 letters, digits, dots, dashes or underscores."),
                               fields={field: _("3–64 of A–Z a–z 0–9 . _ -")})
    taken = db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower()))
    if taken:
        raise _username_taken(field)
    return username


def _username_taken(field: str) -> Conflict:
    return Conflict(_("This user name is taken."), code="duplicate_username", fields={field: _("already taken")})


def create_user(*, actor, username: str, password: str, email: str | None, organization: Organization,
                confirmed: bool = True, field_prefix: str = "") -> User:
    """Create an account without roles; unconfirmed accounts get a confirmation mail.

    `email` None makes an account without an address (the command line's first administrators): it gets no mail
    and no password reset link. Pages and the API always ask for one.
    """
    if actor is not None and not actor.has_role(Role.system_admin):
        raise PermissionDenied(_("Only the system administrator creates user accounts."))
    username = check_username(username, field_prefix + "username")
    if email is None and not confirmed:
        raise ValidationFailed(_("An email address is needed to confirm the account."),
                               fields={field_prefix + "email": _("required")})
    email = None if email is None else check_email(email, field_prefix + "email")
    secrets.check_password_policy(password or "", username=username, field=field_prefix + "password")
    # A verified organisation that has no manager yet gets its first account as manager (decided before the new
    # user joins organization.users, so loading that collection never autoflushes a half-built user).
    first_manager = organization.status == OrgStatus.verified and not any(u.is_org_manager for u in organization.users)
    user = User(username=username, email=email, password_hash=secrets.hash_password(password),
                organization=organization, email_confirmed_at=now_utc() if confirmed else None,
                is_org_manager=first_manager)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same name committed first (PostgreSQL)
        raise _username_taken(field_prefix + "username") from exc
    audit.append("user.created", actor=actor, organization_id=organization.id, object_type="user", object_id=user.id,
                 details={"username": user.username, "manager": user.is_org_manager})
    if not confirmed:
        send_email_confirmation(user)
    return user


def send_email_confirmation(user: User) -> None:
    secret, digest = secrets.new_token()
    db.session.add(AccountToken(purpose="confirm_email", user_id=user.id, token_hash=digest,
                                expires_at=now_utc() + timedelta(days=CONFIRM_EMAIL_DAYS)))
    link = url_for("auth.confirm_email", token=secret, _external=True)
    outbox.enqueue(user.email, _("Confirm your email address"), "confirm_email", user=user, link=link,
                   days=CONFIRM_EMAIL_DAYS)


def _check_grant_allowed(actor, user: User, roles: set[Role]) -> None:
    if actor is None:
        raise PermissionDenied(_("Not allowed."))
    if actor.id == user.id:
        raise PermissionDenied(_("Nobody grants or removes their own roles."), code="self_grant")
    if actor.has_role(Role.security_admin):
        return
    if access.is_manager_of(actor, user.organization):
        admin_or_foreign = {r for r in roles if r in ADMIN_ROLES or r not in
                            BUSINESS_ROLES_BY_KIND[user.organization.org_kind]}
        if admin_or_foreign:
            raise PermissionDenied(_("A manager grants only the business roles allowed for the organisation."),
                                   code="role_not_allowed",
                                   fields={"roles": ", ".join(sorted(r.value for r in admin_or_foreign))})
        return
    raise PermissionDenied(_("Only the security administrator or the organisation's manager changes roles."))


def parse_roles(raw) -> set[Role]:
    if not isinstance(raw, list | tuple | set) or not raw:
        raise ValidationFailed(_("Give at least one role."), fields={"roles": _("a non-empty list of roles")})
    try:
        return {Role(r) for r in raw}
    except ValueError as exc:
        raise ValidationFailed(_("Unknown role."), fields={"roles": _("unknown role")}) from exc


def check_role_set(roles: set[Role], org_kind) -> None:
    """Refuse (409 role_conflict) roles that may not sit together on one account of this kind of organisation.

    Every way a role reaches an account goes through here: the API, the administration pages and
    `flask users create`; the rules themselves are roles.role_set_problem.
    """
    problem = role_set_problem(roles, org_kind)
    if problem:
        raise Conflict(_("These roles cannot be held together: %(why)s.", why=problem), code="role_conflict",
                       fields={"roles": problem})


def grant_roles(*, actor, user: User, roles: set[Role]) -> User:
    """Add roles to an account, refusing self-grants and combinations that separation of duties forbids."""
    _check_grant_allowed(actor, user, roles)
    new = roles - user.roles
    check_role_set(user.roles | roles, user.organization.org_kind)
    for role in sorted(new):
        db.session.add(RoleGrant(user=user, role=role.value, granted_by_id=actor.id))
        audit.append("role.granted", actor=actor, organization_id=user.organization_id, object_type="user",
                     object_id=user.id, details={"role": role.value})
    db.session.flush()
    db.session.refresh(user, ["role_grants"])
    return user


def remove_role(*, actor, user: User, role: Role) -> User:
    _check_grant_allowed(actor, user, {role})
    grant = next((g for g in user.role_grants if g.role == role), None)
    if grant is None:
        raise NotFound(_("The user does not hold this role."))
    user.role_grants.remove(grant)
    db.session.flush()
    audit.append("role.removed", actor=actor, organization_id=user.organization_id, object_type="user",
                 object_id=user.id, details={"role": role.value})
    auth.end_access(user, actor=actor, reason="role_removed")  # a removed privilege must not live on anywhere
    return user


def set_disabled(*, actor, user: User, disabled: bool, reason: str = "") -> User:
    if not actor.has_role(Role.system_admin) and not access.is_manager_of(actor, user.organization):
        raise PermissionDenied(_("Only the system administrator or the organisation's manager does this."))
    if actor.id == user.id:
        raise PermissionDenied(_("You cannot disable your own account."))
    if user.is_disabled == disabled:
        raise InvalidState(_("Nothing to change."))
    user.is_disabled = disabled
    db.session.flush()
    audit.append("user.disabled" if disabled else "user.enabled", actor=actor, organization_id=user.organization_id,
                 object_type="user", object_id=user.id, details={"reason": reason})
    if disabled:
        auth.end_access(user, actor=actor, reason="disabled")  # enabling the account later revives nothing
    return user


def invite(*, actor, org: Organization, email: str, role: str) -> Invitation:
    """The manager invites a colleague by email to a business role allowed for the organisation's kind."""
    if not access.is_manager_of(actor, org):
        raise PermissionDenied(_("Only the organisation's manager invites colleagues."))
    if org.status != OrgStatus.verified:
        raise InvalidState(_("The organisation is not verified."))
    email = check_email(email)
    try:
        wanted = Role(role)
    except ValueError as exc:
        raise ValidationFailed(_("Unknown role."), fields={"role": _("unknown role")}) from exc
    if wanted not in BUSINESS_ROLES_BY_KIND[org.org_kind]:
        raise ValidationFailed(_("This role is not allowed for the organisation."),
                               code="role_not_allowed", fields={"role": _("not allowed for this organisation")})
    secret, digest = secrets.new_token()
    invitation = Invitation(organization_id=org.id, email=email, role=wanted.value, token_hash=digest,
                            invited_by_id=actor.id, expires_at=now_utc() + timedelta(days=INVITATION_DAYS))
    db.session.add(invitation)
    db.session.flush()
    audit.append("invitation.created", actor=actor, organization_id=org.id, object_type="invitation",
                 object_id=invitation.id, details={"email": email, "role": wanted.value})
    outbox.enqueue(email, _("Invitation to InstrumentShare"), "invitation", org=org, inviter=actor,
                   role=wanted, link=url_for("auth.accept_invitation", token=secret, _external=True),
                   days=INVITATION_DAYS)
    invitation.secret = secret  # only for the caller that wants to show or test it; never stored
    return invitation


def open_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == secrets.token_hash(token or "")))
    if invitation is None or invitation.accepted_at or invitation.revoked_at or invitation.expires_at <= now_utc():
        raise NotFound(_("This invitation link is not valid (used, expired or unknown)."), code="invalid_token")
    return invitation


def accept_invitation(*, token: str, username: str, password: str) -> User:
    invitation = open_invitation(token)
    org = invitation.organization
    if org.status != OrgStatus.verified:
        raise InvalidState(_("The organisation is not verified."))
    user = create_user(actor=None, username=username, password=password, email=invitation.email, organization=org)
    inviter = db.session.get(User, invitation.invited_by_id)
    db.session.add(RoleGrant(user=user, role=invitation.role, granted_by_id=inviter.id))
    invitation.accepted_at, invitation.accepted_user_id = now_utc(), user.id
    db.session.flush()
    audit.append("invitation.accepted", actor=user, organization_id=org.id, object_type="invitation",
                 object_id=invitation.id, details={"user_id": user.id})
    audit.append("role.granted", actor=inviter, organization_id=org.id, object_type="user", object_id=user.id,
                 details={"role": invitation.role, "reason": "invitation"})
    return user
