"""Service records, the revenue ledger, adjustment requests, disputes and ratings (docs/api.md "Service records,
revenue, ratings"). Handlers are thin: the rules live in instrument_share.ledger."""

import re
from datetime import date

from flask import jsonify, request
from flask_babel import gettext as _

from ..accounts.models import Organization
from ..arguments import aware_time
from ..bookings.access import load_booking
from ..catalogue.models import Instrument
from ..core.errors import PermissionDenied, ValidationFailed
from ..db import db
from ..ledger import access, disputes, entries, ratings, service_records
from ..ledger.models import AdjustmentRequest, RevenueEntry, ServiceRecord
from ..ledger.present import dispute_json, entry_json, record_json, request_json
from . import ledger_schemas as schemas
from .core import operation, paginate, parse_body, query_int, require_user

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TAG = "service records and revenue"
LISTING_NOT_OPEN = {"listing_not_open": "another organisation's service, and the instrument was not open through the "
                    "platform at actual_start (published; for a defence listing an approval valid that local day and "
                    "the organisation cleared); `reason`: not_published, approval_not_valid or not_cleared"}
ENTRY_CONFLICTS = {
    "payment_exceeds_owed": "a payment above what is owed on the service record (`owed_fen` says how much)",
    "refund_exceeds_payments": "a refund above the payments less earlier refunds (`refundable_fen`)",
    "duplicate_invoice_no": "the invoice number is already in the unit's ledger"}


def _day(raw: str | None, name: str) -> date | None:
    if raw in (None, ""):
        return None
    try:
        if not DAY.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(_("%(name)s is a date like 2026-12-20.", name=name),
                               fields={name: _("YYYY-MM-DD")}) from exc



def _detail(record: ServiceRecord, status: int = 200):
    return jsonify(record_json(record, detail=True)), status


@operation("/bookings/<int:booking_id>/service-record", "POST", "Record the service of a booking in progress or a "
           "confirmed sample order; the booking becomes completed and the charge is appended", tag=TAG,
           body=schemas.RecordFromBookingIn, status=201,
           errors={409: LISTING_NOT_OPEN | {"invalid_state": "the booking is not in progress (nor a confirmed sample "
                                                             "order)"}})
def record_from_booking(booking_id: int):
    actor = require_user()
    body = parse_body(schemas.RecordFromBookingIn)
    with db.transaction():
        record = service_records.record_from_booking(
            actor=actor, booking=load_booking(booking_id, actor),
            actual_start=aware_time(body.actual_start, "actual_start"),
            actual_end=aware_time(body.actual_end, "actual_end"), samples=body.samples,
            result_delivered_on=_day(body.result_delivered_on, "result_delivered_on"))
    return _detail(record, 201)


@operation("/service-records", "POST", "Record a service arranged outside the platform or the unit's own use",
           tag=TAG, body=schemas.RecordIn, status=201, errors={409: LISTING_NOT_OPEN})
def create_record():
    actor = require_user()
    body = parse_body(schemas.RecordIn)
    with db.transaction():
        instrument = db.session.get(Instrument, body.instrument_id)
        if instrument is not None and not access.may_write(actor, instrument.owner_id):
            instrument = None  # another unit's instrument is named exactly like a missing one
        if instrument is None:
            if not access.may_write(actor, actor.organization_id):
                raise PermissionDenied(_("Only instrument operators record services."))
            raise ValidationFailed(_("No such instrument of your unit."), fields={"instrument_id": _("not found")})
        organization = db.session.get(Organization, body.organization_id)
        if organization is None:
            raise ValidationFailed(_("No such organisation."), fields={"organization_id": _("not found")})
        record = service_records.record_standalone(
            actor=actor, instrument=instrument, organization=organization, mode=body.mode,
            actual_start=aware_time(body.actual_start, "actual_start"),
            actual_end=aware_time(body.actual_end, "actual_end"), samples=body.samples,
            result_delivered_on=_day(body.result_delivered_on, "result_delivered_on"))
    return _detail(record, 201)


@operation("/service-records", "GET", "Service records the caller may read", tag=TAG,
           query=[("unit_id", "integer"), ("organization_id", "integer"), ("instrument_id", "integer"),
                  ("from", "string"), ("to", "string"), ("page", "integer"), ("per_page", "integer")])
def list_records():
    actor = require_user()
    stmt = access.visible_records(actor).order_by(ServiceRecord.id.desc())
    for name, column in (("unit_id", ServiceRecord.unit_id), ("organization_id", ServiceRecord.organization_id),
                         ("instrument_id", ServiceRecord.instrument_id)):
        if (value := query_int(name)) is not None:
            stmt = stmt.where(column == value)
    if (first := _day(request.args.get("from"), "from")) is not None:
        stmt = stmt.where(ServiceRecord.start_local_date >= first)
    if (last := _day(request.args.get("to"), "to")) is not None:
        stmt = stmt.where(ServiceRecord.start_local_date <= last)
    return jsonify(paginate(stmt, record_json, db.session))


@operation("/service-records/<int:service_record_id>", "GET", "Read a service record with its fee basis, balance, "
           "disputes and rating", tag=TAG)
def get_record(service_record_id: int):
    return _detail(access.get_readable_record(require_user(), service_record_id))


@operation("/service-records/<int:service_record_id>/rating", "POST", "Rate a service once (the user "
           "organisation)", tag=TAG, body=schemas.RatingIn, status=201)
def rate_record(service_record_id: int):
    actor = require_user()
    body = parse_body(schemas.RatingIn)
    with db.transaction():
        record = access.get_readable_record(actor, service_record_id)
        rating = ratings.rate(actor=actor, record=record, score=body.score, comment=body.comment)
    return jsonify({"id": rating.id, "service_record_id": rating.service_record_id, "score": rating.score,
                    "comment": rating.comment}), 201


@operation("/service-records/<int:service_record_id>/dispute", "POST", "Dispute a service record within the "
           "dispute period (the user organisation)", tag=TAG, body=schemas.DisputeIn, status=201)
def dispute_record(service_record_id: int):
    actor = require_user()
    body = parse_body(schemas.DisputeIn)
    with db.transaction():
        dispute = disputes.raise_dispute(actor=actor, record=access.get_readable_record(actor, service_record_id),
                                         reason=body.reason)
    return jsonify(dispute_json(dispute)), 201


@operation("/service-records/<int:service_record_id>/dispute/answer", "POST", "Answer the open dispute (the "
           "unit's operator)", tag=TAG, body=schemas.AnswerIn)
def answer_dispute(service_record_id: int):
    actor = require_user()
    body = parse_body(schemas.AnswerIn)
    with db.transaction():
        dispute = disputes.answer_dispute(actor=actor, record=access.get_readable_record(actor, service_record_id),
                                          answer=body.answer)
    return jsonify(dispute_json(dispute))


@operation("/revenue-entries", "POST", "Append a ledger entry (an adjustment above the unit's threshold becomes an "
           "adjustment request)", tag=TAG, body=schemas.EntryIn, status=201, errors={409: ENTRY_CONFLICTS})
def create_entry():
    actor = require_user()
    body = parse_body(schemas.EntryIn)
    entry_date = _day(body.entry_date, "entry_date")
    with db.transaction():
        record = db.session.get(ServiceRecord, body.service_record_id)
        if record is None or not access.may_read(actor, record):
            raise ValidationFailed(_("No such service record."), fields={"service_record_id": _("not found")})
        result = entries.append_entry(actor=actor, record=record, kind=body.kind, amount_fen=body.amount_fen,
                                      entry_date=entry_date, direction=body.direction, invoice_no=body.invoice_no,
                                      payment_ref=body.payment_ref, reason=body.reason, corrects_id=body.corrects_id)
        if isinstance(result, AdjustmentRequest):
            return jsonify(request_json(result)), 201, {"Location": f"/api/v1/adjustment-requests/{result.id}"}
        shown = entry_json(result)
    return jsonify(shown), 201


@operation("/revenue-entries", "GET", "Ledger entries the caller may read", tag=TAG,
           query=[("service_record_id", "integer"), ("unit_id", "integer"), ("organization_id", "integer"),
                  ("kind", "string"), ("page", "integer"), ("per_page", "integer")])
def list_entries():
    actor = require_user()
    stmt = access.visible_entries(actor).order_by(RevenueEntry.id)
    for name, column in (("service_record_id", RevenueEntry.service_record_id), ("unit_id", RevenueEntry.unit_id),
                         ("organization_id", RevenueEntry.organization_id)):
        if (value := query_int(name)) is not None:
            stmt = stmt.where(column == value)
    if kind := request.args.get("kind"):
        stmt = stmt.where(RevenueEntry.kind == kind)
    return jsonify(paginate(stmt, entry_json, db.session))



@operation("/adjustment-requests/<int:adjustment_request_id>", "GET", "Read an adjustment request", tag=TAG)
def get_request(adjustment_request_id: int):
    return jsonify(request_json(access.get_readable_request(require_user(), adjustment_request_id)))


@operation("/adjustment-requests/<int:adjustment_request_id>/approve", "POST", "Approve an adjustment request (a "
           "second operator of the unit); appends the ledger entry", tag=TAG)
def approve_request(adjustment_request_id: int):
    actor = require_user()
    with db.transaction():
        adjustment = access.get_readable_request(actor, adjustment_request_id)
        adjustment = entries.approve_adjustment(actor=actor, request=adjustment)
        shown = request_json(adjustment)
    return jsonify(shown)


@operation("/adjustment-requests/<int:adjustment_request_id>/reject", "POST", "Reject an adjustment request",
           tag=TAG, body=schemas.RejectIn)
def reject_request(adjustment_request_id: int):
    actor = require_user()
    body = parse_body(schemas.RejectIn, allow_empty=True)
    with db.transaction():
        adjustment = access.get_readable_request(actor, adjustment_request_id)
        adjustment = entries.reject_adjustment(actor=actor, request=adjustment, reason=body.reason or "")
        shown = request_json(adjustment)
    return jsonify(shown)
