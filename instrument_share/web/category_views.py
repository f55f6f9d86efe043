"""The instrument classification, kept by the system administrator: names, active flag, new sub-classes."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ..accounts.roles import Role
from ..catalogue import categories
from ..catalogue.forms import CategoryAddForm, CategoryNameForm
from .actions import run_action
from .helpers import role_required
from .provider_views import me

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
        done = run_action(lambda: categories.rename(actor=me(), category=category, name_zh=form.name_zh.data,
                                                    name_en=form.name_en.data), form=form)
        if done.refused:
            return _render(done.status, name_form=form, edited=code)
        flash(_("Category %(code)s saved.", code=code), "info")
        return redirect(url_for("categories.index", _anchor=f"c{code}"))
    return _render(422, name_form=form, edited=code)


@bp.route("/<code>/<any(activate, deactivate):action>", methods=["POST"])
@role_required(Role.system_admin)
def toggle(code: str, action: str):
    category = categories.get(code)
    done = run_action(lambda: categories.set_active(actor=me(), category=category, active=action == "activate"))
    if done.refused:
        return _render(done.status)
    flash(_("Category %(code)s activated.", code=code) if action == "activate" else
          _("Category %(code)s deactivated: it is no longer offered for listings.", code=code), "info")
    return redirect(url_for("categories.index", _anchor=f"c{code}"))


@bp.route("", methods=["POST"])
@role_required(Role.system_admin)
def add():
    form = CategoryAddForm(prefix="add")
    form.parent_code.choices = [(c.code, c.code) for c in categories.all_categories() if c.parent_code is None]
    if form.validate_on_submit():
        done = run_action(lambda: categories.add_subclass(
            actor=me(), parent_code=form.parent_code.data, code=form.code.data, name_zh=form.name_zh.data,
            name_en=form.name_en.data), form=form)
        if done.refused:
            return _render(done.status, add_form=form)
        category = done.value
        flash(_("Sub-class %(code)s added.", code=category.code), "info")
        return redirect(url_for("categories.index", _anchor=f"c{category.code}"))
    return _render(422, add_form=form)
