"""The defence listing cycle (measure 19): submit → confidentiality review → superior approval → published.

A published listing's edits wait in a revision that goes through the same review and approval; the approval has a
validity, warned 30 days ahead and enforced by a daily job; the superior authority can revoke at any time.
"""

import json
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.roles import Role
from ..audit.models import AuditEntry
from ..core.clock import local_today, now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..db import db
from ..mail import outbox
from ..mail.links import external_url
from . import access, listing_periods, search
from .fields import RESTRICTABLE, Status, Visibility
from .instrument_changes import apply_changes, cleaned_values, log_instrument
from .listings import is_expired
from .models import Instrument, InstrumentRevision
from .signals import instrument_unavailable


def _require_defence(instrument: Instrument) -> None:
    if not instrument.is_defence:
        raise InvalidState(_("Only defence listings go through confidentiality review."))


def _detail_link(instrument_id: int) -> str:
    return external_url("catalogue.detail", instrument_id=instrument_id)


def _notify(users, subject: str, instrument: Instrument, what: str) -> None:
    # Mail leaves the server, so it names the listing by number only, never by restricted content.
    link = _detail_link(instrument.id)
    for user in users:
        outbox.enqueue(user.email, subject, "listing_notice", user=user, instrument_id=instrument.id, what=what,
                       link=link)


def _people(org_id: int | None, role: Role) -> list[User]:
    if org_id is None:
        return []
    users = db.session.scalars(select(User).where(User.organization_id == org_id, User.is_disabled.is_(False)))
    return [u for u in users if u.has_role(role)]


def submit(*, actor, instrument: Instrument) -> Instrument:
    access.require_operator(actor, instrument)
    _require_defence(instrument)
    revision = instrument.pending_revision
    if revision is not None:
        if revision.status != "draft":
            raise InvalidState(_("The revision is already in review."))
        revision.status = "in_review"
        log_instrument("instrument.revision_submitted", actor, instrument, revision_id=revision.id)
    else:
        if instrument.status != Status.draft:
            raise InvalidState(_("Only a draft is submitted."))
        instrument.status, instrument.review_passed_at = Status.in_review.value, None
        search.reindex(instrument)
        log_instrument("instrument.submitted", actor, instrument)
    _notify(_people(instrument.owner_id, Role.defence_approver), _("A defence listing awaits confidentiality review"),
            instrument, "review")
    return instrument


def _check_visibility(raw) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValidationFailed(_("field_visibility must map fields to levels."),
                               fields={"field_visibility": _("object expected")})
    problems = {}
    for name, level in raw.items():
        if name not in RESTRICTABLE:
            problems[f"field_visibility.{name}"] = _("unknown field")
        elif level not in Visibility.__members__:
            problems[f"field_visibility.{name}"] = _("public, registered, cleared or hidden expected")
    if problems:
        raise ValidationFailed(_("Some field visibilities are invalid."), fields=problems)
    return {name: Visibility(level).value for name, level in raw.items()}


def _drafters(instrument: Instrument, revision: InstrumentRevision | None) -> set[int]:
    """Everyone who wrote what is reviewed: the listing's creator and editors, or the revision's drafters."""
    actions = ("instrument.revision_drafted",) if revision is not None else ("instrument.created", "instrument.updated")
    rows = db.session.execute(select(AuditEntry.actor_id, AuditEntry.details).where(
        AuditEntry.object_type == "instrument", AuditEntry.object_id == str(instrument.id),
        AuditEntry.action.in_(actions)))
    drafters = {revision.drafted_by_id if revision is not None else instrument.created_by_id}
    for actor_id, details in rows:
        if revision is None or json.loads(details).get("revision_id") == revision.id:
            drafters.add(actor_id)
    return drafters


def review(*, actor, instrument: Instrument, passed: bool, field_visibility: dict | None, comment: str) -> Instrument:
    """The owning unit's confidentiality reviewer, who did not draft what is reviewed, passes or fails it."""
    _require_defence(instrument)
    if not access.is_unit_reviewer(actor, instrument):
        raise PermissionDenied(_("Only a defence approver of the owning unit reviews its listings."))
    revision = instrument.pending_revision
    subject = revision if revision is not None else instrument
    in_review = (revision.status == "in_review") if revision is not None else instrument.status == Status.in_review
    if not in_review or subject.review_passed_at is not None:
        raise InvalidState(_("Nothing is waiting for review."))
    if actor.id in _drafters(instrument, revision):
        raise PermissionDenied(_("The reviewer must not be the person who drafted the listing."),
                               code="reviewer_is_drafter")
    subject.review_comment, subject.reviewed_by_id = (comment or "").strip() or None, actor.id
    operators = _people(instrument.owner_id, Role.provider_operator)
    if not passed:
        if not (comment or "").strip():
            raise ValidationFailed(_("Say why the review failed."), fields={"comment": _("required")})
        if revision is not None:
            revision.status = "draft"
        else:
            instrument.status = Status.draft.value
            search.reindex(instrument)
        log_instrument("instrument.review_failed", actor, instrument, revision_id=getattr(revision, "id", None))
        _notify(operators, _("A defence listing failed confidentiality review"), instrument, "review_failed")
        return instrument
    visibility = _check_visibility(field_visibility or {})
    subject.field_visibility = json.dumps(visibility, sort_keys=True)
    subject.review_passed_at = now_utc()
    log_instrument("instrument.review_passed", actor, instrument, revision_id=getattr(revision, "id", None),
         field_visibility=visibility)
    _notify(_people(instrument.owner.superior_id, Role.defence_approver),
            _("A defence listing awaits approval"), instrument, "approval")
    return instrument


def _validity(valid_until) -> date:
    today = local_today()
    if valid_until in (None, ""):
        return today + timedelta(days=current_app.config["DEFENCE_APPROVAL_DAYS"])
    try:
        end = valid_until if isinstance(valid_until, date) else date.fromisoformat(str(valid_until))
    except ValueError as exc:
        raise ValidationFailed(_("valid_until must be a date like 2027-12-31."),
                               fields={"valid_until": _("date expected")}) from exc
    if end <= today:
        raise ValidationFailed(_("The validity must end in the future."), fields={"valid_until": _("in the past")})
    return end


def approve(*, actor, instrument: Instrument, approval_no: str, valid_until=None) -> Instrument:
    """The superior authority approves a reviewed listing or revision, or renews an expired approval."""
    _require_defence(instrument)
    if not access.is_superior_approver(actor, instrument):
        raise PermissionDenied(_("Only a defence approver of the superior authority approves."))
    approval_no = (approval_no or "").strip()
    if not approval_no or len(approval_no) > 100:
        raise ValidationFailed(_("The approval document number is required."),
                               fields={"approval_no": _("required, at most 100 characters")})
    end = _validity(valid_until)
    revision = instrument.pending_revision
    if revision is not None and revision.status == "in_review":
        if revision.review_passed_at is None:
            raise Conflict(_("The revision has not passed confidentiality review."), code="review_required")
        apply_changes(instrument, cleaned_values(json.loads(revision.changes), partial=True))
        instrument.field_visibility = revision.field_visibility
        revision.status, revision.applied_at = "applied", now_utc()
        action = "instrument.revision_approved"
    elif instrument.status == Status.in_review:
        if instrument.review_passed_at is None:
            raise Conflict(_("The listing has not passed confidentiality review."), code="review_required")
        instrument.status, instrument.published_at = Status.published.value, now_utc()
        action = "instrument.approved"
    elif instrument.status == Status.suspended and is_expired(instrument):
        instrument.status, instrument.status_reason = Status.published.value, None
        action = "instrument.renewed"
    else:
        raise InvalidState(_("Nothing is waiting for approval."))
    instrument.approval_no, instrument.approved_on, instrument.valid_until = approval_no, local_today(), end
    instrument.approved_by_id, instrument.expiry_warned_on = actor.id, None
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument(action, actor, instrument, approval_no=approval_no, valid_until=end.isoformat())
    _notify(_people(instrument.owner_id, Role.provider_operator), _("A defence listing was approved"), instrument,
            "approved")
    return instrument


def revoke(*, actor, instrument: Instrument, reason: str) -> Instrument:
    _require_defence(instrument)
    if not access.is_approver(actor, instrument):
        raise PermissionDenied(_("Only the listing's defence approvers revoke it."))
    if instrument.status in (Status.revoked, Status.retired, Status.draft):
        raise InvalidState(_("There is no approval to revoke."))
    if not (reason or "").strip():
        raise ValidationFailed(_("Give the reason for revoking."), fields={"reason": _("required")})
    instrument.status, instrument.status_reason = Status.revoked.value, reason.strip()
    search.reindex(instrument)
    listing_periods.sync(instrument)
    log_instrument("instrument.revoked", actor, instrument, reason=reason.strip())
    instrument_unavailable.send(instrument, reason=_("The defence listing's approval was revoked."))
    _notify(_people(instrument.owner_id, Role.provider_operator), _("A defence listing was revoked"), instrument,
            "revoked")
    return instrument


def warn_expiring(today: date | None = None) -> int:
    """Tell the unit and the approvers 30 days before an approval ends (once per approval)."""
    today = today or local_today()
    horizon = today + timedelta(days=current_app.config["DEFENCE_EXPIRY_WARNING_DAYS"])
    due = db.session.scalars(select(Instrument).where(
        Instrument.status == Status.published.value, Instrument.valid_until.is_not(None),
        Instrument.valid_until <= horizon, Instrument.valid_until >= today, Instrument.expiry_warned_on.is_(None)))
    count = 0
    for instrument in due:
        instrument.expiry_warned_on = today
        people = (_people(instrument.owner_id, Role.provider_operator)
                  + _people(instrument.owner_id, Role.defence_approver)
                  + _people(instrument.owner.superior_id, Role.defence_approver))
        _notify(people, _("A defence listing's approval ends soon"), instrument, "expiring")
        log_instrument("instrument.expiry_warned", None, instrument, valid_until=instrument.valid_until.isoformat())
        count += 1
    return count


def expire_due(today: date | None = None) -> int:
    """Suspend published defence listings whose approval has ended (a daily job)."""
    today = today or local_today()
    due = db.session.scalars(select(Instrument).where(
        Instrument.status == Status.published.value, Instrument.valid_until.is_not(None),
        Instrument.valid_until < today))
    count = 0
    for instrument in due:
        instrument.status, instrument.status_reason = Status.suspended.value, "approval_expired"
        search.reindex(instrument)
        listing_periods.sync(instrument)
        log_instrument("instrument.expired", None, instrument, valid_until=instrument.valid_until.isoformat())
        instrument_unavailable.send(instrument, reason=_("The defence listing's approval has ended."))
        _notify(_people(instrument.owner_id, Role.provider_operator) + _people(instrument.owner.superior_id,
                Role.defence_approver), _("A defence listing's approval has ended"), instrument, "expired")
        count += 1
    return count


__all__ = ["InstrumentRevision", "approve", "expire_due", "review", "revoke", "submit", "warn_expiring"]
