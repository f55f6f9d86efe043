"""Administration: organisations (system_admin), user accounts (system_admin) and role grants (security_admin)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from ..accounts import organizations, users
from ..accounts.forms import GrantRoleForm, OrgCreateForm, PlainForm, ReasonForm, RelationForm, UserCreateForm
from ..accounts.models import Organization, User
from ..accounts.roles import OrgKind, OrgStatus, Role
from ..core.errors import ValidationFailed
from ..db import db
from .actions import run_action
from .helpers import role_required
from .paging import page_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")
PER_PAGE = 50


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
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page_arg() - 1) * PER_PAGE)).all()
    return render_template("admin/organizations.html", orgs=rows, total=total, page=page_arg(), per_page=PER_PAGE,
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
        done = run_action(lambda: organizations.create_organization(
            actor=current_user._get_current_object(), name=form.name.data, uscc=form.uscc.data,
            kind=form.kind.data, region_code=form.region_code.data,
            superior_id=int(form.superior_id.data) if form.superior_id.data else None,
            actual_controller=form.actual_controller.data, verified=form.verified.data), form=form)
        if done.refused:
            return render_template("admin/organization_new.html", form=form), done.status
        flash(_("Organisation created."), "info")
        return redirect(url_for("admin.organization_detail", org_id=done.value.id))
    return render_template("admin/organization_new.html", form=form), 422 if form.errors else 200


def _registered(uscc: str, field: str) -> Organization:
    """The organisation a form names by its USCC; refused next to `field` when none has it."""
    org = db.session.scalar(select(Organization).where(Organization.uscc == uscc.strip().upper()))
    if org is None:
        raise ValidationFailed(_("No organisation has this code."), fields={field: _("not registered")})
    return org


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
    done = run_action(lambda: organizations.verify_organization(actor=current_user._get_current_object(),
                                                                org=_org(org_id)))
    if not done.refused:  # refused: the reason is flashed on the page it goes back to
        flash(_("Organisation verified."), "info")
    return redirect(url_for("admin.organization_detail", org_id=org_id))


@bp.route("/organizations/<int:org_id>/suspend", methods=["POST"])
@role_required(Role.system_admin)
def organization_suspend(org_id: int):
    form = ReasonForm(prefix="susp")
    done = run_action(lambda: organizations.suspend_organization(
        actor=current_user._get_current_object(), org=_org(org_id), reason=form.reason.data or ""))
    if not done.refused:  # refused: the reason is flashed on the page it goes back to
        flash(_("Organisation suspended."), "info")
    return redirect(url_for("admin.organization_detail", org_id=org_id))


@bp.route("/organizations/<int:org_id>/relations", methods=["POST"])
@role_required(Role.system_admin)
def organization_relation(org_id: int):
    form = RelationForm()
    if form.validate_on_submit():
        done = run_action(lambda: organizations.add_relation(
            actor=current_user._get_current_object(), org=_org(org_id),
            other_id=_registered(form.other_uscc.data, "other_uscc").id, kind=form.kind.data), form=form)
        if done.refused:
            return _render_org(org_id, relation_form=form, status=done.status)
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
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page_arg() - 1) * PER_PAGE)).all()
    return render_template("admin/users.html", users=rows, total=total, page=page_arg(), per_page=PER_PAGE, q=q,
                           form=UserCreateForm() if current_user.has_role(Role.system_admin) else None)


@bp.route("/users", methods=["POST"])
@role_required(Role.system_admin)
def user_create():
    form = UserCreateForm()
    if form.validate_on_submit():
        done = run_action(lambda: users.create_user(
            actor=current_user._get_current_object(), username=form.username.data, password=form.password.data,
            email=form.email.data, organization=_registered(form.organization_uscc.data, "organization_uscc")),
            form=form)
        if not done.refused:
            flash(_("Account created without roles; the security administrator grants roles."), "info")
            return redirect(url_for("admin.user_detail", user_id=done.value.id))
        status = done.status
    else:
        status = 422
    return render_template("admin/users.html", users=[], total=0, page=1, per_page=PER_PAGE, q="", form=form), status


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
        done = run_action(lambda: users.grant_roles(actor=current_user._get_current_object(), user=_user(user_id),
                                                    roles=users.parse_roles(form.roles.data)))
        if not done.refused:  # refused: the reason is flashed on the page it goes back to
            flash(_("Roles granted."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/roles/<role>/remove", methods=["POST"])
@role_required(Role.security_admin)
def user_remove_role(user_id: int, role: str):
    if role not in Role.__members__:
        abort(404)
    done = run_action(lambda: users.remove_role(actor=current_user._get_current_object(), user=_user(user_id),
                                                role=Role(role)))
    if not done.refused:  # refused: the reason is flashed on the page it goes back to
        flash(_("Role removed."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.route("/users/<int:user_id>/<any(disable, enable):action>", methods=["POST"])
@role_required(Role.system_admin)
def user_toggle(user_id: int, action: str):
    done = run_action(lambda: users.set_disabled(actor=current_user._get_current_object(), user=_user(user_id),
                                                 disabled=action == "disable"))
    if not done.refused:  # refused: the reason is flashed on the page it goes back to
        flash(_("Account disabled.") if action == "disable" else _("Account enabled."), "info")
    return redirect(url_for("admin.user_detail", user_id=user_id))
