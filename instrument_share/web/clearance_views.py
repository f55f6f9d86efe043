"""A defence unit's register of cleared organisations: list, add (by USCC), remove."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from ..accounts.models import Organization
from ..catalogue import access, clearances
from ..catalogue.forms import ClearanceForm
from ..core.errors import ValidationFailed
from ..db import db
from .actions import run_action
from .provider_views import me

bp = Blueprint("clearances", __name__, url_prefix="/clearances")


def _unit() -> Organization:
    unit = me().organization
    access.require_clearance_manager(me(), unit)
    return unit


def _render(unit: Organization, form=None, status: int = 200):
    return render_template("clearances/index.html", unit=unit, items=clearances.list_clearances(me(), unit),
                           form=form or ClearanceForm()), status


@bp.route("")
@login_required
def index():
    return _render(_unit())


# The service names the organisation by id; the form asks for its USCC.
FORM_NAMES = {"organization_id": "organization_uscc"}


def _registered(uscc: str) -> Organization:
    other = db.session.scalar(select(Organization).where(Organization.uscc == uscc))
    if other is None:
        raise ValidationFailed(_("No organisation has this code."), fields={"organization_uscc": _("not registered")})
    return other


@bp.route("", methods=["POST"])
@login_required
def add():
    unit = _unit()
    form = ClearanceForm()
    if form.validate_on_submit():
        def grant() -> Organization:
            other = _registered(form.organization_uscc.data.strip().upper())
            clearances.grant(actor=me(), unit=unit, organization_id=other.id,
                             agreement_version=form.agreement_version.data)
            return other

        done = run_action(grant, form=form, field_names=FORM_NAMES)
        if done.refused:
            return _render(unit, form, done.status)
        flash(_("%(name)s is cleared.", name=done.value.name), "info")
        return redirect(url_for("clearances.index"))
    return _render(unit, form, 422)


@bp.route("/<int:organization_id>/remove", methods=["POST"])
@login_required
def remove(organization_id: int):
    unit = _unit()
    done = run_action(lambda: clearances.remove(actor=me(), unit=unit, organization_id=organization_id))
    if done.refused:
        return _render(unit, status=done.status)
    flash(_("The clearance is removed."), "info")
    return redirect(url_for("clearances.index"))
