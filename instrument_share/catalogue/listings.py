"""Listing services: create, edit (directly or as a pending revision), publish, suspend, resume, retire."""

import json

from flask_babel import gettext as _

from ..accounts.models import Organization
from ..core.clock import local_today, now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..db import db
from . import access, listing_periods, search

# The instrument loader lives in access.py; pages and services outside the catalogue still call it by this name.
from .fields import Status
from .instrument_changes import apply_changes, cleaned_values, log_instrument
from .models import Instrument, InstrumentRevision
from .signals import instrument_unavailable


def create_instrument(*, actor, values: dict, owner_id: int | None = None) -> Instrument:
    owner_id = actor.organization_id if owner_id is None else owner_id
    if not access.is_operator_of(actor, owner_id):
        raise PermissionDenied(_("Only an instrument operator of a verified unit lists its own instruments."))
    cleaned = cleaned_values(values, partial=False)
    instrument = Instrument(owner=db.session.get(Organization, owner_id), status=Status.draft.value,
                            created_by_id=actor.id, **cleaned)
    db.session.add(instrument)
    db.session.flush()
    search.reindex(instrument)
    log_instrument("instrument.created", actor, instrument, fields=sorted(cleaned))
    return instrument


def update_instrument(*, actor, instrument: Instrument, values: dict) -> Instrument:
    """Edit a listing; an approved defence listing keeps showing its approved version until the revision passes."""
    access.require_operator(actor, instrument)
    changes = cleaned_values(values, partial=True)
    if not changes:
        raise ValidationFailed(_("Nothing to change."), fields={"body": _("no fields given")})
    if instrument.status in (Status.revoked, Status.retired):
        raise InvalidState(_("A revoked or retired listing cannot be changed."))
    if instrument.is_defence and instrument.status == Status.in_review:
        raise InvalidState(_("The listing is in review; wait for the review result."))
    if instrument.is_defence and instrument.status != Status.draft:
        revision = instrument.pending_revision
        if revision is not None and revision.status != "draft":
            raise InvalidState(_("A revision is in review; wait for the review result."))
        if revision is None:
            revision = InstrumentRevision(instrument=instrument, changes="{}", drafted_by_id=actor.id)
            db.session.add(revision)
        merged = json.loads(revision.changes) | {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                                 for k, v in changes.items()}
        revision.changes, revision.drafted_by_id = json.dumps(merged, ensure_ascii=False), actor.id
        db.session.flush()
        log_instrument("instrument.revision_drafted", actor, instrument, revision_id=revision.id,
                       fields=sorted(changes))
        return instrument
    apply_changes(instrument, changes)
    search.reindex(instrument)
    log_instrument("instrument.updated", actor, instrument, fields=sorted(changes))
    return instrument


def publish(*, actor, instrument: Instrument) -> Instrument:
    access.require_operator(actor, instrument)
    if instrument.is_defence:
        raise InvalidState(_("A defence listing is published only through confidentiality review and approval."))
    if instrument.status != Status.draft:
        raise InvalidState(_("Only a draft is published."))
    instrument.status, instrument.published_at = Status.published.value, now_utc()
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument("instrument.published", actor, instrument)
    return instrument


def suspend(*, actor, instrument: Instrument, reason: str) -> Instrument:
    access.require_operator(actor, instrument)
    if instrument.status != Status.published:
        raise InvalidState(_("Only a published listing is suspended."))
    instrument.status, instrument.status_reason = Status.suspended.value, (reason or "").strip() or None
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument("instrument.suspended", actor, instrument, reason=reason)
    instrument_unavailable.send(instrument, reason=_("The instrument was suspended by its unit."))
    return instrument


def is_expired(instrument: Instrument) -> bool:
    return instrument.is_defence and instrument.valid_until is not None and instrument.valid_until < local_today()


def resume(*, actor, instrument: Instrument) -> Instrument:
    access.require_operator(actor, instrument)
    if instrument.status != Status.suspended:
        raise InvalidState(_("Only a suspended listing is resumed."))
    if is_expired(instrument):
        raise Conflict(_("The approval has expired; the superior authority must renew it."), code="approval_expired")
    instrument.status, instrument.status_reason = Status.published.value, None
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument("instrument.resumed", actor, instrument)
    return instrument


def retire(*, actor, instrument: Instrument) -> Instrument:
    access.require_operator(actor, instrument)
    if instrument.status == Status.retired:
        raise InvalidState(_("The listing is already retired."))
    instrument.status = Status.retired.value
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument("instrument.retired", actor, instrument)
    instrument_unavailable.send(instrument, reason=_("The instrument was retired by its unit."))
    return instrument
