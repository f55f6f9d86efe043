"""Dashboards: the public city figures, a provider unit's, the commission's and a user organisation's."""

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..accounts.policy import is_commission
from ..accounts.roles import Role
from ..catalogue.policy import is_operator_of
from ..catalogue.visibility import viewer_for
from ..core.clock import local_today
from ..reporting import dashboards

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")


@bp.get("/")
def index():
    """Each person's own dashboard; the city figures for everyone else."""
    if current_user.is_authenticated:
        if is_commission(current_user):
            return redirect(url_for(".commission"))
        if is_operator_of(current_user, current_user.organization_id):
            return redirect(url_for(".unit"))
        if not current_user.is_admin:
            return redirect(url_for(".organization"))
    return redirect(url_for(".city"))


@bp.get("/city")
def city():
    return render_template("dashboards/city.html", d=dashboards.city_dashboard(local_today()))


@bp.get("/unit")
@login_required
def unit():
    if not is_operator_of(current_user, current_user.organization_id):
        abort(403)
    data = dashboards.unit_dashboard(current_user.organization_id, viewer_for(current_user), local_today())
    return render_template("dashboards/unit.html", d=data, unit=current_user.organization)


@bp.get("/commission")
@login_required
def commission():
    if not is_commission(current_user):
        abort(403)
    return render_template("dashboards/commission.html",
                           d=dashboards.commission_dashboard(viewer_for(current_user), local_today()))


@bp.get("/organization")
@login_required
def organization():
    if current_user.is_admin or not current_user.has_role(Role.sme_user, Role.provider_operator):
        abort(403)
    data = dashboards.organization_dashboard(current_user.organization_id, viewer_for(current_user), local_today())
    return render_template("dashboards/organization.html", d=data, org=current_user.organization)


@bp.app_template_global()
def hours_text(minutes: int) -> str:
    from ..reporting.statistics import hours_text as text

    return text(minutes)
