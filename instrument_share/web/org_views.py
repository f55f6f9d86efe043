"""An organisation's own page: profile, colleagues, roles and invitations (the manager acts here)."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..accounts import access, organizations, users
from ..accounts.forms import GrantRoleForm, InviteForm, OrgProfileForm, PlainForm
from ..accounts.models import Invitation, Organization
from ..accounts.roles import BUSINESS_ROLES_BY_KIND, ROLE_LABELS, Role
from ..core.errors import NotFound
from ..db import db
from .actions import run_action

bp = Blueprint("org", __name__)


def _role_choices(org: Organization):
    return [(r.value, ROLE_LABELS[r]) for r in sorted(BUSINESS_ROLES_BY_KIND[org.org_kind])]


def _render(org: Organization, status: int = 200, **forms):
    me = current_user._get_current_object()
    invite_form = forms.get("invite_form") or InviteForm(prefix="inv")
    invite_form.role.choices = _role_choices(org)
    grant_form = forms.get("grant_form") or GrantRoleForm(prefix="grant")
    grant_form.roles.choices = _role_choices(org)
    profile_form = forms.get("profile_form") or OrgProfileForm(prefix="prof", obj=org, data={
        "staff_count": org.sme_staff_count,
        "annual_revenue_yuan": org.sme_annual_revenue_fen,
        "total_assets_yuan": org.sme_total_assets_fen, "tech_sme_no": org.tech_sme_no})
    invitations = db.session.scalars(select(Invitation).where(
        Invitation.organization_id == org.id, Invitation.accepted_at.is_(None)).order_by(Invitation.id.desc())).all()
    return render_template("org/organization.html", org=org, me=me, can_manage=access.is_manager_of(me, org),
                           invite_form=invite_form, grant_form=grant_form, profile_form=profile_form,
                           plain_form=PlainForm(), invitations=invitations,
                           relations=organizations.relations_of(org)), status


def _own_org() -> Organization:
    return current_user.organization


@bp.route("/organization")
@login_required
def mine():
    return _render(_own_org())


@bp.route("/organization/profile", methods=["POST"])
@login_required
def update_profile():
    org = _own_org()
    form = OrgProfileForm(prefix="prof")
    if form.validate_on_submit():
        changes = {k: getattr(form, k).data for k in ("contact_name", "contact_phone", "contact_email",
                                                       "address")}  # the actual controller: system_admin
        if org.kind == "enterprise":
            changes["sme"] = organizations.SmeProfile(
                staff_count=form.staff_count.data, annual_revenue_fen=form.annual_revenue_yuan.data,
                total_assets_fen=form.total_assets_yuan.data, tech_sme_no=form.tech_sme_no.data)
        done = run_action(lambda: organizations.update_organization(
            actor=current_user._get_current_object(), org=org, changes=changes), form=form)
        if done.refused:
            return _render(org, done.status, profile_form=form)
        flash(_("Saved."), "info")
        return redirect(url_for("org.mine"))
    return _render(org, 422, profile_form=form)


@bp.route("/organization/invitations", methods=["POST"])
@login_required
def invite():
    org = _own_org()
    form = InviteForm(prefix="inv")
    form.role.choices = _role_choices(org)
    if form.validate_on_submit():
        done = run_action(lambda: users.invite(actor=current_user._get_current_object(), org=org,
                                               email=form.email.data, role=form.role.data), form=form)
        if done.refused:
            return _render(org, done.status, invite_form=form)
        flash(_("Invitation sent to %(email)s.", email=form.email.data), "info")
        return redirect(url_for("org.mine"))
    return _render(org, 422, invite_form=form)


def _colleague(user_id: int):
    try:
        return access.get_colleague(current_user, user_id)
    except NotFound:
        abort(404)  # the plain 404 page, even where the action's refusals are shown as messages


@bp.route("/organization/users/<int:user_id>/roles", methods=["POST"])
@login_required
def grant(user_id: int):
    org = _own_org()
    form = GrantRoleForm(prefix="grant")
    form.roles.choices = _role_choices(org)
    if form.validate_on_submit():
        done = run_action(lambda: users.grant_roles(actor=current_user._get_current_object(),
                                                    user=_colleague(user_id), roles=users.parse_roles(form.roles.data)))
        if not done.refused:  # refused: the reason is flashed on the page it goes back to
            flash(_("Roles granted."), "info")
    return redirect(url_for("org.mine"))


@bp.route("/organization/users/<int:user_id>/roles/<role>/remove", methods=["POST"])
@login_required
def remove(user_id: int, role: str):
    done = run_action(lambda: users.remove_role(actor=current_user._get_current_object(), user=_colleague(user_id),
                                                role=Role(role) if role in Role.__members__ else abort(404)))
    if not done.refused:  # refused: the reason is flashed on the page it goes back to
        flash(_("Role removed."), "info")
    return redirect(url_for("org.mine"))


@bp.route("/organization/users/<int:user_id>/<any(disable, enable):action>", methods=["POST"])
@login_required
def toggle(user_id: int, action: str):
    # refused: the reason is flashed on the page it goes back to
    run_action(lambda: users.set_disabled(actor=current_user._get_current_object(), user=_colleague(user_id),
                                          disabled=action == "disable"))
    return redirect(url_for("org.mine"))


@bp.route("/organizations/<int:org_id>")
def public(org_id: int):
    viewer = current_user if current_user.is_authenticated else None
    org = access.get_visible_org(viewer, org_id)
    return render_template("org/public.html", org=org, private=access.can_read_org_private(viewer, org))
