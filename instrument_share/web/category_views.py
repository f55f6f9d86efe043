"""The instrument classification, kept by the system administrator: names, active flag, new sub-classes."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..accounts.roles import Role
from ..catalogue import categories
from ..catalogue.forms import CategoryAddForm, CategoryNameForm
from ..core.errors import DomainError
from ..db import db
from .helpers import role_required, show_error
from .provider_views import error_status, me

bp = Blueprint("categories", __name__, url_prefix="/admin/categories")


def _render(status: int = 200, add_form=None, name_form=None, edited: str | None = None):
    rows = categories.all_categories()
    add_form = add_form or CategoryAddForm(prefix="add")
    add_form.parent_code.choices = [(c.code, f"{c.code} {c.name_zh}") for c in rows if c.parent_code is None]
    return render_template("admin/categories.html", rows=rows, add_form=add_form, name_form=name_form,
                           edited=edited), status


@bp.route("")
@role_required(Role.system_admin)
def index():
    return _render()


@bp.route("/<code>", methods=["POST"])
@role_required(Role.system_admin)
def rename(code: str):
    category = categories.get(code)
    form = CategoryNameForm(prefix=f"c{category.code}")
    if form.validate_on_submit():
        try:
            with db.transaction():
                categories.rename(actor=me(), category=category, name_zh=form.name_zh.data, name_en=form.name_en.data)
        except DomainError as exc:
            show_error(exc, form)
            return _render(error_status(exc), name_form=form, edited=code)
        flash(_("Category %(code)s saved.", code=code), "info")
        return redirect(url_for("categories.index", _anchor=f"c{code}"))
    return _render(422, name_form=form, edited=code)


@bp.route("/<code>/<any(activate, deactivate):action>", methods=["POST"])
@role_required(Role.system_admin)
def toggle(code: str, action: str):
    category = categories.get(code)
    try:
        with db.transaction():
            categories.set_active(actor=me(), category=category, active=action == "activate")
    except DomainError as exc:
        show_error(exc)
        return _render(error_status(exc))
    flash(_("Category %(code)s activated.", code=code) if action == "activate" else
          _("Category %(code)s deactivated: it is no longer offered for listings.", code=code), "info")
    return redirect(url_for("categories.index", _anchor=f"c{code}"))


@bp.route("", methods=["POST"])
@role_required(Role.system_admin)
def add():
    form = CategoryAddForm(prefix="add")
    form.parent_code.choices = [(c.code, c.code) for c in categories.all_categories() if c.parent_code is None]
    if form.validate_on_submit():
        try:
            with db.transaction():
                category = categories.add_subclass(actor=me(), parent_code=form.parent_code.data, code=form.code.data,
                                                   name_zh=form.name_zh.data, name_en=form.name_en.data)
        except DomainError as exc:
            show_error(exc, form)
            return _render(error_status(exc), add_form=form)
        flash(_("Sub-class %(code)s added.", code=category.code), "info")
        return redirect(url_for("categories.index", _anchor=f"c{category.code}"))
    return _render(422, add_form=form)
