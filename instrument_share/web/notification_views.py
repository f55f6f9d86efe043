"""In-app notifications: the list (newest first), mark read, and the unread count in the navigation bar."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts.forms import PlainForm
from ..core.errors import NotFound
from ..db import db
from ..mail import inbox
from .paging import page_arg

bp = Blueprint("notifications", __name__)
PER_PAGE = 50


@bp.app_context_processor
def unread_notifications():
    """`unread_count()` for base.html: one COUNT query, made only when a page shows it, at most once a request."""

    def unread_count() -> int:
        if not getattr(current_user, "is_authenticated", False):
            return 0
        if "unread_notifications" not in g:
            g.unread_notifications = inbox.unread_count(current_user.id)
        return g.unread_notifications

    return {"unread_count": unread_count}


@bp.route("/notifications")
@login_required
def index():
    page = page_arg()
    unread_only = request.args.get("unread") == "1"
    rows, total = inbox.page_of(current_user.id, page, PER_PAGE, unread_only)
    return render_template("bookings/notifications.html", rows=rows, total=total, page=page, per_page=PER_PAGE,
                           unread_only=unread_only)


@bp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):
    if not PlainForm().validate_on_submit():
        abort(400)
    try:
        with db.transaction():
            note = inbox.mark_read(current_user.id, notification_id)
    except NotFound:
        abort(404)
    if request.form.get("open") and note.booking_id:
        return redirect(url_for("bookings.detail", booking_id=note.booking_id))
    return redirect(url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all():
    if not PlainForm().validate_on_submit():
        abort(400)
    with db.transaction():
        count = inbox.mark_all_read(current_user.id)
    flash(_("%(n)d notifications marked as read.", n=count), "info")
    return redirect(url_for("notifications.index"))
