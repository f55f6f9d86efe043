"""Administration: organisations (system_admin), user accounts (system_admin) and role grants (security_admin)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from ..accounts import organizations, users
from ..accounts.forms import GrantRoleForm, OrgCreateForm, PlainForm, ReasonForm, RelationForm, UserCreateForm
from ..accounts.models import Organization, User
from ..accounts.roles import OrgKind, OrgStatus, Role
from ..core.errors import DomainError, ValidationFailed
from ..db import db
from .helpers import role_required, show_error

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


def _page_arg() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), 10**9)  # the offset must fit in 64 bits


@bp.route("/organizations")
@role_required(Role.system_admin)
def organizations_list():
    status, q = request.args.get("status") or None, (request.args.get("q") or "").strip()[:254]  # LIKE limits
    stmt = select(Organization).order_by(Organization.status != OrgStatus.pending, Organization.id.desc())
    if status:
        stmt = stmt.where(Organization.status == status)
    if q:
        stmt = stmt.where(or_(Organization.name.contains(q), Organization.uscc == q.upper()))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((_page_arg() - 1) * PER_PAGE)).all()
    return render_template("admin/organizations.html", orgs=rows, total=total, page=_page_arg(), per_page=PER_PAGE,
                           status=status, q=q)


def _org_form() -> OrgCreateForm:
    form = OrgCreateForm()
    authorities = db.session.scalars(select(Organization).where(Organization.kind == OrgKind.authority)
                                     .order_by(Organization.name)).all()
    form.superior_id.choices = [("", "—")] + [(str(a.id), a.name) for a in authorities]
    return form


@bp.route("/organizations/new", methods=["GET", "POST"])
@role_required(Role.system_admin)
def organization_new():
    form = _org_form()
    if form.validate_on_submit():
        try:
            with db.transaction():
                org = organizations.create_organization(
                    actor=current_user._get_current_object(), name=form.name.data, uscc=form.uscc.data,
                    kind=form.kind.data, region_code=form.region_code.data,
                    superior_id=int(form.superior_id.data) if form.superior_id.data else None,
                    actual_controller=form.actual_controller.data, verified=form.verified.data)
        except DomainError as exc:
            show_error(exc, form)
        else:
            flash(_("Organisation created."), "info")
            return redirect(url_for("admin.organization_detail", org_id=org.id))
    return render_template("admin/organization_new.html", form=form), 422 if form.errors else 200


def _org(org_id: int) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        abort(404)
    return org


@bp.route("/organizations/<int:org_id>")
@role_required(Role.system_admin)
def organization_detail(org_id: int):
    return _render_org(org_id)


def _render_org(org_id: int, relation_form=None, status: int = 200):
    org = _org(org_id)
    return render_template("admin/organization.html", org=org, plain_form=PlainForm(),
                           reason_form=ReasonForm(prefix="susp"), relation_form=relation_form or RelationForm(),
                           relations=organizations.relations_of(org)), status


@bp.route("/organizations/<int:org_id>/verify", methods=["POST"])
@role_required(Role.system_admin)
def organization_verify(org_id: int):
    try:
        with db.transaction():
            organizations.verify_organization(actor=current_user._get_current_object(), org=_org(org_id))
    except DomainError as exc:
        show_error(exc)
    else:
        flash(_("Organisation verified."), "info")
    return redirect(url_for("admin.organization_detail", org_id=org_id))


@bp.route("/organizations/<int:org_id>/suspend", methods=["POST"])
@role_required(Role.system_admin)
def organization_suspend(org_id: int):
    form = ReasonForm(prefix="susp")
    try:
        with db.transaction():
            organizations.suspend_organization(actor=current_user._get_current_object(), org=_org(org_id),
                                               reason=form.reason.data or "")
    except DomainError as exc:
        show_error(exc)
    else:
        flash(_("Organisation suspended."), "info")
    return redirect(url_for("admin.organization_detail", org_id=org_id))


@bp.route("/organizations/<int:org_id>/relations", methods=["POST"])
@role_required(Role.system_admin)
def organization_relation(org_id: int):
    form = RelationForm()
    if form.validate_on_submit():
        other = db.session.scalar(select(Organization).where(Organization.uscc == form.other_uscc.data.strip().upper()))
        try:
            if other is None:
                raise ValidationFailed(_("No organisation has this code."),
                                             fields={"other_uscc": _("not registered")})
            with db.transaction():
                organizations.add_relation(actor=current_user._get_current_object(), org=_org(org_id),
                                           other_id=other.id, kind=form.kind.data)
        except DomainError as exc:
            show_error(exc, form)
        else:
            flash(_("Relation registered."), "info")
            return redirect(url_for("admin.organization_detail", org_id=org_id))
    return _render_org(org_id, relation_form=form, status=422)


@bp.route("/users")
@role_required(Role.system_admin, Role.security_admin)
def users_list():
    q = (request.args.get("q") or "").strip()[:254]  # longer than any name or address; SQLite limits LIKE patterns
    stmt = select(User).order_by(User.id.desc())
    if q:
        stmt = stmt.where(or_(User.username.contains(q), User.email.contains(q)))
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((_page_arg() - 1) * PER_PAGE)).all()
    return render_template("admin/users.html", users=rows, total=total, page=_page_arg(), per_page=PER_PAGE, q=q,
                           form=UserCreateForm() if current_user.has_role(Role.system_admin) else None)


@bp.route("/users", methods=["POST"])
@role_required(Role.system_admin)
def user_create():
    form = UserCreateForm()
    if form.validate_on_submit():
        org = db.session.scalar(select(Organization).where(
            Organization.uscc == form.organization_uscc.data.strip().upper()))
        try:
            if org is None:
                raise ValidationFailed(_("No organisation has this code."),
                                             fields={"organization_uscc": _("not registered")})
            with db.transaction():
                user = users.create_user(actor=current_user._get_current_object(), username=form.username.data,
                                         password=form.password.data, email=form.email.data, organization=org)
        except DomainError as exc:
            show_error(exc, form)
        else:
            flash(_("Account created without roles; the security administrator grants roles."), "info")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template("admin/users.html", users=[], total=0, page=1, per_page=PER_PAGE, q="", form=form), 422


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>")
@role_required(Role.system_admin, Role.security_admin)
def user_detail(user_id: int):
    return render_template("admin/user.html", user=_user(user_id), grant_form=GrantRoleForm(),
                           plain_form=PlainForm())


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@role_required(Role.security_admin)
def user_grant(user_id: int):
    form = GrantRoleForm()
    if form.validate_on_submit():
        try:
            with db.transaction():
                users.grant_roles(actor=current_user._get_current_object(), user=_user(user_id),
                                  roles=users.parse_roles(form.roles.data))
        except DomainError as exc:
            show_error(exc)
        else:
            flash(_("Roles granted."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/roles/<role>/remove", methods=["POST"])
@role_required(Role.security_admin)
def user_remove_role(user_id: int, role: str):
    if role not in Role.__members__:
        abort(404)
    try:
        with db.transaction():
            users.remove_role(actor=current_user._get_current_object(), user=_user(user_id), role=Role(role))
    except DomainError as exc:
        show_error(exc)
    else:
        flash(_("Role removed."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/<any(disable, enable):action>", methods=["POST"])
@role_required(Role.system_admin)
def user_toggle(user_id: int, action: str):
    try:
        with db.transaction():
            users.set_disabled(actor=current_user._get_current_object(), user=_user(user_id),
                               disabled=action == "disable")
    except DomainError as exc:
        show_error(exc)
    else:
        flash(_("Account disabled.") if action == "disable" else _("Account enabled."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))
