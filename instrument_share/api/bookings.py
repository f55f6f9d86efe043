"""Availability, booking rules and bookings (docs/api.md "Bookings")."""

from datetime import datetime

from flask import Response, jsonify, request
from flask_babel import gettext as _

from ..arguments import aware_time
from ..bookings import idempotency, ruleset, service
from ..bookings.access import load_booking, visible_bookings
from ..bookings.availability import availability, parse_range, require_schedule_access
from ..bookings.models import Booking
from ..bookings.present import booking_json
from ..catalogue import access as catalogue_access
from ..catalogue.visibility import viewer_for
from ..core.clock import local_iso, local_today
from ..core.errors import DomainError, ValidationFailed
from ..db import db
from . import booking_schemas as schemas
from .core import current_api_user, operation, paginate, parse_body, query_int, require_user


def _visible_instrument(instrument_id: int, actor):
    viewer = viewer_for(actor)
    instrument = catalogue_access.get_visible_instrument(instrument_id, viewer)
    require_schedule_access(viewer, instrument)
    return instrument


@operation("/instruments/<int:instrument_id>/availability", "GET", "Free and busy time (local dates, ≤ 31 days)",
           tag="bookings", auth="optional", query=[("from", "string"), ("to", "string")])
def get_availability(instrument_id: int):
    instrument = _visible_instrument(instrument_id, current_api_user())
    first, last = parse_range(request.args.get("from"), request.args.get("to"), local_today())
    result = availability(instrument, first, last)
    return jsonify({key: [{"start": local_iso(s), "end": local_iso(e)} for s, e in spans]
                    for key, spans in result.items()})


@operation("/instruments/<int:instrument_id>/booking-rules", "GET", "The instrument's booking rules",
           tag="bookings", auth="optional")
def get_rules(instrument_id: int):
    _visible_instrument(instrument_id, current_api_user())
    return jsonify(ruleset.rules_json(instrument_id))


@operation("/instruments/<int:instrument_id>/booking-rules", "PUT", "Replace the booking rules (the unit's "
           "operators; omitted fields take the defaults)", tag="bookings", body=schemas.RulesIn)
def put_rules(instrument_id: int):
    actor = require_user()
    payload = parse_body(schemas.RulesIn, allow_empty=True).model_dump(exclude_unset=True)
    with db.transaction():
        instrument = catalogue_access.get_visible_instrument(instrument_id, viewer_for(actor))
        ruleset.set_rules(actor=actor, instrument=instrument, payload=payload)
    return jsonify(ruleset.rules_json(instrument_id))


def _aware(raw: str | None, name: str) -> datetime | None:
    return None if raw is None else aware_time(raw, name)


def _request_from(body: schemas.BookingIn) -> service.Request:
    from datetime import date

    wanted_by = None
    if body.wanted_by is not None:
        try:
            wanted_by = date.fromisoformat(body.wanted_by)
        except ValueError as exc:
            raise ValidationFailed(_("wanted_by is a date like 2026-12-20."),
                                   fields={"wanted_by": _("YYYY-MM-DD")}) from exc
    return service.Request(instrument_id=body.instrument_id, mode=body.mode, start=_aware(body.start, "start"),
                           end=_aware(body.end, "end"), samples=body.samples, wanted_by=wanted_by)


@operation("/bookings", "POST", "Book an instrument (honours Idempotency-Key)", tag="bookings",
           body=schemas.BookingIn, status=201)
def create_booking():
    actor = require_user()
    raw = request.get_data(cache=True)
    body = parse_body(schemas.BookingIn)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        replay = idempotency.claim(actor.id, key.strip(), idempotency.body_hash(raw))
        if replay is not None:
            return jsonify(replay.body), replay.status
    try:
        with db.transaction():
            booking = service.create_booking(actor=actor, req=_request_from(body))
            result = booking_json(booking)
            if key is not None:
                idempotency.store(actor.id, key.strip(), 201, result)
    except DomainError as exc:
        if key is not None:  # a refusal is the answer to this key too
            with db.transaction():
                idempotency.store(actor.id, key.strip(), exc.status, {"error": exc.code, "message": exc.message,
                                                                      "fields": exc.fields} | exc.extra)
        raise
    except Exception:
        if key is not None:
            idempotency.release(actor.id, key.strip())
        raise
    return jsonify(result), 201


@operation("/bookings", "GET", "My organisation's bookings and, for operators, the unit's", tag="bookings",
           query=[("status", "string"), ("instrument_id", "integer"), ("scope", "string"), ("page", "integer"),
                  ("per_page", "integer")])
def list_bookings():
    actor = require_user()
    stmt = visible_bookings(actor).order_by(Booking.id.desc())
    if status := request.args.get("status"):
        stmt = stmt.where(Booking.status == status)
    if (instrument_id := query_int("instrument_id")) is not None:
        stmt = stmt.where(Booking.instrument_id == instrument_id)
    scope = request.args.get("scope")
    if scope == "mine":
        stmt = stmt.where(Booking.organization_id == actor.organization_id)
    elif scope == "unit":
        stmt = stmt.where(Booking.unit_id == actor.organization_id)
    return jsonify(paginate(stmt, booking_json, db.session))


@operation("/bookings/<int:booking_id>", "GET", "Read a booking", tag="bookings")
def get_booking(booking_id: int):
    return jsonify(booking_json(load_booking(booking_id, require_user())))


def _decided(actor, booking_id: int, decide) -> Response:
    """Run one decision on a booking the actor may see, in its own transaction, and answer the booking."""
    with db.transaction():
        booking = decide(load_booking(booking_id, actor))
    return jsonify(booking_json(booking))


@operation("/bookings/<int:booking_id>/confirm", "POST", "Confirm a pending booking (the unit's operator)",
           tag="bookings")
def booking_confirm(booking_id: int):
    actor = require_user()
    return _decided(actor, booking_id, lambda booking: service.confirm(actor=actor, booking=booking))


@operation("/bookings/<int:booking_id>/reject", "POST", "Reject a pending booking", tag="bookings",
           body=schemas.ReasonIn)
def booking_reject(booking_id: int):
    actor = require_user()
    body = parse_body(schemas.ReasonIn, allow_empty=True)
    return _decided(actor, booking_id,
                    lambda booking: service.reject(actor=actor, booking=booking, reason=body.reason or ""))


@operation("/bookings/<int:booking_id>/cancel", "POST", "Cancel a pending or confirmed booking", tag="bookings",
           body=schemas.ReasonIn)
def booking_cancel(booking_id: int):
    actor = require_user()
    body = parse_body(schemas.ReasonIn, allow_empty=True)
    return _decided(actor, booking_id,
                    lambda booking: service.cancel(actor=actor, booking=booking, reason=body.reason or ""))


@operation("/bookings/<int:booking_id>/start", "POST", "Record the user's arrival (the unit's operator)",
           tag="bookings")
def booking_start(booking_id: int):
    actor = require_user()
    return _decided(actor, booking_id, lambda booking: service.start(actor=actor, booking=booking))


@operation("/bookings/<int:booking_id>/complete-no-show", "POST",
           "Turn a no-show into in_progress when the service did happen", tag="bookings", body=schemas.ReasonIn)
def booking_complete_no_show(booking_id: int):
    actor = require_user()
    body = parse_body(schemas.ReasonIn, allow_empty=True)
    return _decided(actor, booking_id, lambda booking: service.complete_no_show(
        actor=actor, booking=booking, reason=body.reason or ""))
