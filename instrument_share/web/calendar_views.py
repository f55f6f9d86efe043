"""iCalendar feeds: an instrument's taken time, and a person's bookings at a private address."""

from flask import Blueprint, Response, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.forms import PlainForm
from ..bookings import calendars
from ..bookings.availability import may_see_schedule
from ..catalogue import access as catalogue_access
from ..catalogue.visibility import viewer_for
from ..db import db
from .booking_views import render_mine

bp = Blueprint("calendars", __name__)


def _ics(body: bytes, filename: str, *, private: bool) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store" if private else "no-cache"
    return response


@bp.route("/instruments/<int:instrument_id>/calendar.ics")
def instrument_feed(instrument_id: int):
    viewer = viewer_for(current_user if current_user.is_authenticated else None)
    instrument = catalogue_access.get_visible_instrument(instrument_id, viewer)
    if not may_see_schedule(viewer, instrument):
        abort(404)  # the schedule of a defence listing exists only for cleared organisations
    body = calendars.instrument_feed(instrument, viewer)
    return _ics(body, f"instrument-{instrument.id}.ics", private=instrument.is_defence or not viewer.is_anonymous)


@bp.route("/calendar/<token>.ics")
def user_feed(token: str):
    user = calendars.user_for_token(token)
    if user is None:
        abort(404)
    return _ics(calendars.user_feed(user), "bookings.ics", private=True)


def feed_url(secret: str) -> str:
    return url_for("calendars.user_feed", token=secret, _external=True)


@bp.route("/calendar/token", methods=["POST"])
@login_required
def rotate():
    if not PlainForm().validate_on_submit():
        abort(400)
    with db.transaction():
        secret = calendars.rotate_token(current_user._get_current_object())
    flash(_("Your private calendar address is ready. Copy it now: it is shown only once."), "info")
    return render_mine(new_feed_url=feed_url(secret), status=201)


@bp.route("/calendar/token/revoke", methods=["POST"])
@login_required
def revoke():
    if not PlainForm().validate_on_submit():
        abort(400)
    with db.transaction():
        calendars.revoke_token(current_user._get_current_object())
    flash(_("Your private calendar address no longer works."), "info")
    return redirect(url_for("bookings.mine"))
