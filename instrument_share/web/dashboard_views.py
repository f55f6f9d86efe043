"""Dashboards: the public city figures, a provider unit's, the commission's and a user organisation's."""

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..catalogue.visibility import viewer_for
from ..core.clock import local_today
from ..reporting import access, dashboards

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")


@bp.get("/")
def index():
    """Each person's own dashboard; the city figures for everyone else."""
    return redirect(url_for(f".{access.dashboard_for(current_user) or 'city'}"))


@bp.get("/city")
def city():
    return render_template("dashboards/city.html", d=dashboards.city_dashboard(local_today()))


@bp.get("/unit")
@login_required
def unit():
    if not access.may_read_unit_dashboard(current_user):
        abort(403)
    data = dashboards.unit_dashboard(current_user.organization_id, viewer_for(current_user), local_today())
    return render_template("dashboards/unit.html", d=data, unit=current_user.organization)


@bp.get("/commission")
@login_required
def commission():
    if not access.may_read_commission_dashboard(current_user):
        abort(403)
    return render_template("dashboards/commission.html",
                           d=dashboards.commission_dashboard(viewer_for(current_user), local_today()))


@bp.get("/organization")
@login_required
def organization():
    if not access.may_read_organization_dashboard(current_user):
        abort(403)
    data = dashboards.organization_dashboard(current_user.organization_id, viewer_for(current_user), local_today())
    return render_template("dashboards/organization.html", d=data, org=current_user.organization)


@bp.app_template_global()
def hours_text(minutes: int) -> str:
    from ..reporting.statistics import hours_text as text

    return text(minutes)
