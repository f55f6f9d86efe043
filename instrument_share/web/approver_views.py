"""Defence approvers: the queue, the confidentiality review, the superior authority's approval, revocation.

The queue shows what waits for *me*: reviews of my own defence unit's listings and revisions that I did not draft,
approvals for the units under my authority, renewals of expired approvals, and approvals that end within 30 days.
"""

import json
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from ..accounts.models import Organization
from ..accounts.roles import OrgKind, Role
from ..catalogue import access, defence, listings
from ..catalogue.fields import Status
from ..catalogue.forms import ApproveForm, ReasonRequiredForm, ReviewForm
from ..catalogue.models import Instrument, InstrumentRevision
from ..catalogue.present import instrument_json
from ..catalogue.visibility import viewer_for
from ..core.clock import local_today
from ..core.errors import PermissionDenied
from ..db import db
from .actions import run_action
from .helpers import role_required
from .provider_views import listing_context, me

bp = Blueprint("approver", __name__, url_prefix="/approvals")
OVERVIEW_LIMIT = 200


def _defence_of(unit_ids) -> list:
    """Conditions for listings owned by these units (all defence units: approvers act on defence listings only)."""
    units = unit_ids if isinstance(unit_ids, Select) else list(unit_ids)
    return [Instrument.owner_id.in_(units),
            Instrument.owner_id.in_(select(Organization.id).where(Organization.kind == OrgKind.defence_unit))]


def _not_drafted_by(column, user_id: int):
    return or_(column.is_(None), column != user_id)


def review_queue(user) -> list[Instrument]:
    """My own defence unit's listings and revisions in review, not drafted by me and not yet reviewed."""
    if user.organization.kind != OrgKind.defence_unit:
        return []
    where = _defence_of([user.organization_id])
    fresh = select(Instrument).where(*where, Instrument.status == Status.in_review.value,
                                     Instrument.review_passed_at.is_(None),
                                     _not_drafted_by(Instrument.created_by_id, user.id))
    revised = select(Instrument).join(InstrumentRevision).where(
        *where, InstrumentRevision.status == "in_review", InstrumentRevision.review_passed_at.is_(None),
        _not_drafted_by(InstrumentRevision.drafted_by_id, user.id))
    return _unique(db.session.scalars(fresh), db.session.scalars(revised))


def approval_queue(user) -> list[Instrument]:
    """Reviewed listings and revisions of the units under my authority, and their expired approvals to renew."""
    if user.organization.kind != OrgKind.authority:
        return []
    units = select(Organization.id).where(Organization.superior_id == user.organization_id)
    where = _defence_of(units)
    reviewed = select(Instrument).where(*where, Instrument.status == Status.in_review.value,
                                        Instrument.review_passed_at.is_not(None))
    revised = select(Instrument).join(InstrumentRevision).where(
        *where, InstrumentRevision.status == "in_review", InstrumentRevision.review_passed_at.is_not(None))
    expired = select(Instrument).where(*where, Instrument.status == Status.suspended.value,
                                       Instrument.valid_until < local_today())
    return _unique(db.session.scalars(reviewed), db.session.scalars(revised), db.session.scalars(expired))


def expiring(viewer) -> list[Instrument]:
    today = local_today()
    horizon = today + timedelta(days=current_app.config["DEFENCE_EXPIRY_WARNING_DAYS"])
    return list(db.session.scalars(select(Instrument).where(
        *_defence_of(viewer.full_units), Instrument.status == Status.published.value,
        Instrument.valid_until.is_not(None), Instrument.valid_until >= today, Instrument.valid_until <= horizon)
        .order_by(Instrument.valid_until, Instrument.id)))


def _unique(*results) -> list[Instrument]:
    seen: dict[int, Instrument] = {}
    for result in results:
        for instrument in result:
            seen.setdefault(instrument.id, instrument)
    return sorted(seen.values(), key=lambda i: i.id)


@bp.route("")
@role_required(Role.defence_approver)
def queue():
    user, viewer = me(), viewer_for(me())
    if not user.organization.is_verified or user.is_disabled:
        abort(403)

    def shown(items):
        return [(instrument_json(i, viewer), i) for i in items]

    others = db.session.scalars(select(Instrument).where(
        *_defence_of(viewer.full_units), Instrument.status.in_([Status.published.value, Status.suspended.value]))
        .order_by(Instrument.id.desc()).limit(OVERVIEW_LIMIT))
    return render_template("approver/queue.html", to_review=shown(review_queue(user)),
                           to_approve=shown(approval_queue(user)), expiring=shown(expiring(viewer)),
                           others=shown(others), **listing_context())


def _approvable(instrument_id: int) -> Instrument:
    instrument = access.get_visible_instrument(instrument_id, viewer_for(me()))  # 404 when the viewer may not see it
    if not instrument.is_defence or not access.is_approver(me(), instrument):
        raise PermissionDenied(_("Only the listing's defence approvers act here."))
    return instrument


def _waiting(instrument: Instrument) -> tuple[bool, bool]:
    """(waits for review, waits for approval) — for the listing itself or its revision."""
    revision = instrument.pending_revision
    if revision is not None:
        in_review = revision.status == "in_review"
        return in_review and revision.review_passed_at is None, in_review and revision.review_passed_at is not None
    if instrument.status == Status.in_review:
        return instrument.review_passed_at is None, instrument.review_passed_at is not None
    return False, instrument.status == Status.suspended and listings.is_expired(instrument)


def _drafter(instrument: Instrument) -> int | None:
    revision = instrument.pending_revision
    return revision.drafted_by_id if revision is not None else instrument.created_by_id


def _render(instrument: Instrument, status: int = 200, **forms):
    user = me()
    review_due, approval_due = _waiting(instrument)
    drafted_by_me = _drafter(instrument) == user.id
    revision = instrument.pending_revision  # the visibility its review gave: metadata for the approvers only
    revision_visibility = json.loads(revision.field_visibility or "{}") if revision is not None else {}
    approve_form = forms.get("approve_form") or ApproveForm(prefix="approve", data={
        "valid_until": local_today() + timedelta(days=current_app.config["DEFENCE_APPROVAL_DAYS"])})
    return render_template(
        "approver/instrument.html", instrument=instrument, item=instrument_json(instrument, viewer_for(user)),
        can_review=review_due and access.is_unit_reviewer(user, instrument) and not drafted_by_me,
        drafted_by_me=drafted_by_me and review_due, revision_visibility=revision_visibility,
        can_approve=approval_due and access.is_superior_approver(user, instrument),
        can_revoke=instrument.status not in (Status.revoked, Status.retired, Status.draft),
        review_form=forms.get("review_form") or ReviewForm(prefix="review"), approve_form=approve_form,
        revoke_form=forms.get("revoke_form") or ReasonRequiredForm(prefix="revoke"), **listing_context()), status


@bp.route("/instruments/<int:instrument_id>")
@role_required(Role.defence_approver)
def instrument(instrument_id: int):
    return _render(_approvable(instrument_id))


@bp.route("/instruments/<int:instrument_id>/review", methods=["POST"])
@role_required(Role.defence_approver)
def review(instrument_id: int):
    item = _approvable(instrument_id)
    form = ReviewForm(prefix="review")
    if form.validate_on_submit():
        done = run_action(lambda: defence.review(
            actor=me(), instrument=item, passed=form.result.data == "passed",
            field_visibility=form.field_visibility(), comment=form.comment.data or ""), form=form)
        if done.refused:
            return _render(item, done.status, review_form=form)
        flash(_("Review recorded: passed.") if form.result.data == "passed" else
              _("Review recorded: failed; the listing went back to its drafter."), "info")
        return redirect(url_for("approver.queue"))
    return _render(item, 422, review_form=form)


@bp.route("/instruments/<int:instrument_id>/approve", methods=["POST"])
@role_required(Role.defence_approver)
def approve(instrument_id: int):
    item = _approvable(instrument_id)
    form = ApproveForm(prefix="approve")
    if form.validate_on_submit():
        done = run_action(lambda: defence.approve(actor=me(), instrument=item, approval_no=form.approval_no.data,
                                                  valid_until=form.valid_until.data), form=form)
        if done.refused:
            return _render(item, done.status, approve_form=form)
        flash(_("Approved: the listing is published as reviewed."), "info")
        return redirect(url_for("approver.queue"))
    return _render(item, 422, approve_form=form)


@bp.route("/instruments/<int:instrument_id>/revoke", methods=["POST"])
@role_required(Role.defence_approver)
def revoke(instrument_id: int):
    item = _approvable(instrument_id)
    form = ReasonRequiredForm(prefix="revoke")
    if form.validate_on_submit():
        done = run_action(lambda: defence.revoke(actor=me(), instrument=item, reason=form.reason.data), form=form)
        if done.refused:
            return _render(item, done.status, revoke_form=form)
        flash(_("The approval is revoked."), "info")
        return redirect(url_for("approver.instrument", instrument_id=item.id))
    return _render(item, 422, revoke_form=form)
