"""The directory of other S&T resources (measure 18): public list and detail; the unit's operators edit."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from ..accounts.models import Organization
from ..catalogue import access, resources
from ..catalogue.forms import ResourceForm
from ..catalogue.models import Instrument, Resource
from ..catalogue.present import instrument_json
from ..catalogue.resources import KIND_LABELS, ResourceKind
from ..catalogue.visibility import can_see, viewer_for
from ..core.errors import PermissionDenied, ValidationFailed
from ..db import db
from .actions import run_action
from .paging import page_arg
from .provider_views import me

bp = Blueprint("resources", __name__, url_prefix="/resources")
PER_PAGE = 20


def _actor():
    return me() if current_user.is_authenticated else None


def _labels() -> dict:
    return {"resource_kind_labels": KIND_LABELS,
            "level_labels": {"national": _("National"), "provincial": _("Provincial"), "municipal": _("Municipal")}}


@bp.route("")
def index():
    q = (request.args.get("q") or "").strip()[:100]
    kind = request.args.get("kind") or None
    kind = kind if kind in ResourceKind.__members__ else None
    stmt = resources.search_resources(q, kind)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = page_arg()
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    can_create = current_user.is_authenticated and access.may_edit_resources(me(), current_user.organization_id)
    return render_template("resources/index.html", rows=rows, total=total, page=page, per_page=PER_PAGE, q=q,
                           kind=kind, can_create=can_create, **_labels())


@bp.route("/<int:resource_id>")
def detail(resource_id: int):
    actor = _actor()
    resource = access.get_visible_resource(resource_id, actor)  # 404 unless published or editable by the viewer
    viewer = viewer_for(actor)
    linked = [instrument_json(i, viewer) for i in resources.visible_instruments(resource, viewer)]
    website = resource.website if (resource.website or "").startswith(("https://", "http://")) else None
    return render_template("resources/detail.html", resource=resource, linked=linked, website=website,
                           can_edit=access.may_edit_resources(actor, resource.organization_id), **_labels())


def _choices(form: ResourceForm, organization_id: int | None) -> None:
    """Offer the unit's instruments that the editor may see (named as the editor may see them) for linking."""
    viewer = viewer_for(me())
    form.instrument_ids.choices = []
    if organization_id is None:
        return
    owned = db.session.scalars(select(Instrument).where(Instrument.owner_id == organization_id)
                               .order_by(Instrument.id))
    choices = []
    for instrument in owned:
        if can_see(viewer, instrument):
            item = instrument_json(instrument, viewer)
            name = item.get("name_zh") or _("Defence listing no. %(id)d", id=item["id"])
            choices.append((str(instrument.id), f"{name} (#{instrument.id})"))
    form.instrument_ids.choices = choices


def _render_form(form, resource=None, status: int = 200):
    return render_template("resources/form.html", form=form, resource=resource,
                           ask_unit=resource is None and access.names_resource_unit(me())), status


def _unit_for_new(form: ResourceForm) -> int:
    if not access.names_resource_unit(me()):
        if not access.may_edit_resources(me(), current_user.organization_id):
            raise PermissionDenied(_("Only the unit's operators or the system administrator list its resources."))
        return current_user.organization_id
    code = (form.organization_uscc.data or "").strip().upper()
    unit = db.session.scalar(select(Organization).where(Organization.uscc == code)) if code else None
    if unit is None:
        raise ValidationFailed(_("Name the unit by its unified social credit code."),
                               fields={"organization_uscc": _("not registered")})
    return unit.id


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    if not access.may_edit_resources(me(), current_user.organization_id):  # the system administrator for any unit
        abort(403)
    form = ResourceForm()
    _choices(form, None if access.names_resource_unit(me()) else current_user.organization_id)
    if form.validate_on_submit():
        done = run_action(lambda: resources.create(actor=me(), values=form.values(),
                                                   organization_id=_unit_for_new(form)), form=form)
        if done.refused:
            return _render_form(form, status=done.status)
        flash(_("The resource is saved."), "info")
        return redirect(url_for("resources.detail", resource_id=done.value.id))
    return _render_form(form, status=422 if form.errors else 200)


def _editable(resource_id: int) -> Resource:
    resource = access.get_visible_resource(resource_id, me())  # 404 when the viewer may not see it
    if not access.may_edit_resources(me(), resource.organization_id):
        abort(403)
    return resource


@bp.route("/<int:resource_id>/edit", methods=["GET", "POST"])
@login_required
def edit(resource_id: int):
    resource = _editable(resource_id)
    viewer = viewer_for(me())
    unseen = [i.id for i in resource.instruments if not can_see(viewer, i)]  # kept linked as they are
    form = ResourceForm(obj=resource, data={"instrument_ids": [str(i.id) for i in resource.instruments]})
    _choices(form, resource.organization_id)
    if form.validate_on_submit():
        values = form.values()
        values["instrument_ids"] = sorted(set(values["instrument_ids"]) | set(unseen))
        done = run_action(lambda: resources.update(actor=me(), resource=resource, values=values), form=form)
        if done.refused:
            return _render_form(form, resource, done.status)
        flash(_("Saved."), "info")
        return redirect(url_for("resources.detail", resource_id=resource.id))
    return _render_form(form, resource, 422 if form.errors else 200)
