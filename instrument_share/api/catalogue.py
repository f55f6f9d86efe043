"""Instruments, defence listing actions, clearances, categories and other resources."""

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from ..catalogue import access, clearances, defence, listings, resources
from ..catalogue.models import Instrument, InstrumentCategory
from ..catalogue.present import instrument_json
from ..catalogue.search import load_instruments, search
from ..catalogue.search_params import search_params_from_args
from ..catalogue.visibility import viewer_for
from ..core.clock import local_iso
from ..core.errors import NotFound
from ..db import db
from . import catalogue_schemas as schemas
from .core import current_api_user, operation, parse_body, require_user

SEARCH_QUERY = [("q", "string"), ("category_code", "string"), ("district", "string"), ("region", "string"),
                ("owner_kind", "string"), ("service_mode", "string"), ("fee_max_fen", "integer"),
                ("large", "boolean"), ("defence", "boolean"), ("sort", "string"), ("page", "integer"),
                ("per_page", "integer")]


@operation("/instruments", "GET", "Search and list instruments (visible fields only)", tag="instruments",
           auth="optional", query=SEARCH_QUERY)
def list_instruments():
    viewer = viewer_for(current_api_user())
    params = search_params_from_args(request.args)
    result = search(viewer, params)
    items = [instrument_json(i, viewer) for i in load_instruments(result.instrument_ids, viewer)]
    return jsonify({"items": items, "page": params.page, "per_page": params.per_page, "total": result.total})


@operation("/instruments/<int:instrument_id>", "GET", "Read an instrument (visible fields only)", tag="instruments",
           auth="optional")
def get_instrument(instrument_id: int):
    viewer = viewer_for(current_api_user())
    return jsonify(instrument_json(access.get_visible_instrument(instrument_id, viewer), viewer))


@operation("/instruments", "POST", "List a new instrument as a draft (provider_operator)", tag="instruments",
           body=schemas.InstrumentIn, status=201)
def create_instrument():
    actor = require_user()
    body = parse_body(schemas.InstrumentIn)
    values = body.model_dump(exclude_unset=True)
    owner_id = values.pop("owner_id", None)
    with db.transaction():
        instrument = listings.create_instrument(actor=actor, values=values, owner_id=owner_id)
    return jsonify(instrument_json(instrument, viewer_for(actor))), 201


def _actionable(instrument_id: int, actor) -> Instrument:
    return access.get_visible_instrument(instrument_id, viewer_for(actor))


@operation("/instruments/<int:instrument_id>", "PATCH", "Change an instrument (a pending revision once a defence "
           "listing is published)", tag="instruments", body=schemas.InstrumentPatch)
def patch_instrument(instrument_id: int):
    actor = require_user()
    values = parse_body(schemas.InstrumentPatch).model_dump(exclude_unset=True)
    with db.transaction():
        instrument = listings.update_instrument(actor=actor, instrument=_actionable(instrument_id, actor),
                                                values=values)
    return jsonify(instrument_json(instrument, viewer_for(actor)))


def _simple_action(name: str, summary: str, handler, body_model=None):
    def view(instrument_id: int):
        actor = require_user()
        body = parse_body(body_model, allow_empty=True) if body_model else None
        with db.transaction():
            instrument = handler(actor, _actionable(instrument_id, actor), body)
        return jsonify(instrument_json(instrument, viewer_for(actor)))

    view.__name__ = f"instrument_{name}"
    operation(f"/instruments/<int:instrument_id>/{name}", "POST", summary, tag="instruments", body=body_model)(view)


_simple_action("publish", "Publish a civilian draft", lambda a, i, b: listings.publish(actor=a, instrument=i))
_simple_action("submit", "Submit a defence listing (or its revision) for review",
               lambda a, i, b: defence.submit(actor=a, instrument=i))
_simple_action("review", "Confidentiality review by the unit's defence approver",
               lambda a, i, b: defence.review(actor=a, instrument=i, passed=b.result == "passed",
                                              field_visibility=b.field_visibility, comment=b.comment or ""),
               schemas.ReviewIn)
_simple_action("approve", "Approval by the superior authority's defence approver (also renews)",
               lambda a, i, b: defence.approve(actor=a, instrument=i, approval_no=b.approval_no,
                                               valid_until=b.valid_until), schemas.ApproveIn)
_simple_action("revoke", "Revoke an approval", lambda a, i, b: defence.revoke(actor=a, instrument=i,
                                                                              reason=b.reason or ""), schemas.ReasonIn)
_simple_action("suspend", "Suspend a published listing", lambda a, i, b: listings.suspend(
    actor=a, instrument=i, reason=b.reason or ""), schemas.ReasonIn)
_simple_action("resume", "Resume a suspended listing", lambda a, i, b: listings.resume(actor=a, instrument=i))
_simple_action("retire", "Retire a listing", lambda a, i, b: listings.retire(actor=a, instrument=i))


def clearance_json(c) -> dict:
    return {"id": c.id, "unit_id": c.unit_id, "organization_id": c.organization_id,
            "organization_name": c.organization.name, "agreement_version": c.agreement_version,
            "agreed_on": c.agreed_on.isoformat(), "created_at": local_iso(c.created_at)}


@operation("/organizations/<int:org_id>/clearances", "POST", "Clear an organisation (defence unit)",
           tag="clearances", body=schemas.ClearanceIn, status=201)
def add_clearance(org_id: int):
    actor = require_user()
    body = parse_body(schemas.ClearanceIn)
    with db.transaction():
        clearance = clearances.grant(actor=actor, unit=clearances.unit_addressed(actor, org_id),
                                     organization_id=body.organization_id, agreement_version=body.agreement_version)
    return jsonify(clearance_json(clearance)), 201


@operation("/organizations/<int:org_id>/clearances", "GET", "The defence unit's cleared organisations",
           tag="clearances")
def list_clearances(org_id: int):
    actor = require_user()
    items = [clearance_json(c) for c in clearances.list_clearances(actor, clearances.unit_addressed(actor, org_id))]
    return jsonify({"items": items, "page": 1, "per_page": len(items), "total": len(items)})


@operation("/organizations/<int:org_id>/clearances/<int:organization_id>", "DELETE", "Remove a clearance",
           tag="clearances")
def remove_clearance(org_id: int, organization_id: int):
    actor = require_user()
    with db.transaction():
        clearances.remove(actor=actor, unit=clearances.unit_addressed(actor, org_id), organization_id=organization_id)
    return jsonify({"unit_id": org_id, "organization_id": organization_id, "removed": True})


@operation("/categories", "GET", "The instrument classification", tag="instruments", auth="none")
def list_categories():
    rows = db.session.scalars(select(InstrumentCategory).where(InstrumentCategory.is_active.is_(True))
                              .order_by(InstrumentCategory.code))
    items = [{"code": c.code, "parent_code": c.parent_code, "name_zh": c.name_zh, "name_en": c.name_en} for c in rows]
    return jsonify({"items": items, "page": 1, "per_page": len(items), "total": len(items)})


def resource_json(resource, viewer) -> dict:
    return {"id": resource.id, "kind": resource.kind, "name_zh": resource.name_zh, "name_en": resource.name_en,
            "organization_id": resource.organization_id, "organization_name": resource.organization.name,
            "level": resource.level, "fields_of_work": resource.fields_of_work, "services": resource.services,
            "contact": resource.contact, "website": resource.website, "is_published": resource.is_published,
            "instrument_ids": [i.id for i in resources.visible_instruments(resource, viewer)]}


@operation("/resources", "GET", "Innovation platforms and service agencies", tag="resources", auth="optional",
           query=[("q", "string"), ("kind", "string"), ("page", "integer"), ("per_page", "integer")])
def list_resources():
    from .core import paginate

    viewer = viewer_for(current_api_user())
    stmt = resources.search_resources(request.args.get("q", ""), request.args.get("kind") or None)
    return jsonify(paginate(stmt, lambda r: resource_json(r, viewer), db.session))


@operation("/resources/<int:resource_id>", "GET", "Read a resource", tag="resources", auth="optional")
def get_resource(resource_id: int):
    actor = current_api_user()
    return jsonify(resource_json(access.get_visible_resource(resource_id, actor), viewer_for(actor)))


@operation("/resources", "POST", "List a resource of the caller's unit", tag="resources", body=schemas.ResourceIn,
           status=201)
def create_resource():
    actor = require_user()
    values = parse_body(schemas.ResourceIn).model_dump(exclude_unset=True)
    organization_id = values.pop("organization_id", None)
    with db.transaction():
        resource = resources.create(actor=actor, values=values, organization_id=organization_id)
    return jsonify(resource_json(resource, viewer_for(actor))), 201


@operation("/resources/<int:resource_id>", "PATCH", "Change a resource", tag="resources", body=schemas.ResourcePatch)
def patch_resource(resource_id: int):
    actor = require_user()
    values = parse_body(schemas.ResourcePatch).model_dump(exclude_unset=True)
    with db.transaction():
        resource = access.get_visible_resource(resource_id, actor)
        if resource is None:
            raise NotFound(_("No such resource."))
        resources.update(actor=actor, resource=resource, values=values)
    return jsonify(resource_json(resource, viewer_for(actor)))
