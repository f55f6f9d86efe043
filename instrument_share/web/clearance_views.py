"""A defence unit's register of cleared organisations: list, add (by USCC), remove."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from ..accounts.models import Organization
from ..catalogue import access, clearances
from ..catalogue.forms import ClearanceForm
from ..core.errors import DomainError, ValidationFailed
from ..db import db
from .helpers import show_error
from .provider_views import error_status, me

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


def _renamed(exc: DomainError) -> DomainError:
    """The service names the organisation by id; the form asks for its USCC."""
    if "organization_id" in exc.fields:
        exc.fields = {("organization_uscc" if k == "organization_id" else k): v for k, v in exc.fields.items()}
    return exc


@bp.route("", methods=["POST"])
@login_required
def add():
    unit = _unit()
    form = ClearanceForm()
    if form.validate_on_submit():
        code = form.organization_uscc.data.strip().upper()
        other = db.session.scalar(select(Organization).where(Organization.uscc == code))
        try:
            if other is None:
                raise ValidationFailed(_("No organisation has this code."),
                                       fields={"organization_uscc": _("not registered")})
            with db.transaction():
                clearances.grant(actor=me(), unit=unit, organization_id=other.id,
                                 agreement_version=form.agreement_version.data)
        except DomainError as exc:
            show_error(_renamed(exc), form)
            return _render(unit, form, error_status(exc))
        flash(_("%(name)s is cleared.", name=other.name), "info")
        return redirect(url_for("clearances.index"))
    return _render(unit, form, 422)


@bp.route("/<int:organization_id>/remove", methods=["POST"])
@login_required
def remove(organization_id: int):
    unit = _unit()
    try:
        with db.transaction():
            clearances.remove(actor=me(), unit=unit, organization_id=organization_id)
    except DomainError as exc:
        show_error(exc)
        return _render(unit, status=error_status(exc))
    flash(_("The clearance is removed."), "info")
    return redirect(url_for("clearances.index"))
