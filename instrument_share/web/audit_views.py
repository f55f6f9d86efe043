"""The audit log and its chain verification, for the audit administrator; the daily anchors, for everyone."""

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..accounts.roles import Role
from ..audit import anchors, chain, queries
from ..db import MAX_ID, db
from .helpers import role_required
from .paging import page_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")
# Outside /audit, the audit administrator's area: anyone may read the anchors.
public_bp = Blueprint("audit_public", __name__, url_prefix="/transparency")
PER_PAGE = 100


@bp.route("/")
@role_required(Role.audit_admin)
def entries():
    args = request.args
    start = end = None
    try:
        start = queries.parse_bound(args["from"], end=False) if args.get("from") else None
        end = queries.parse_bound(args["to"], end=True) if args.get("to") else None
    except ValueError:
        flash(_("Dates must look like 2026-12-01."), "error")
    actor_id = args.get("actor_id", type=int)
    if actor_id is not None and not 0 <= actor_id <= MAX_ID:
        actor_id = 0  # no account has such an id; it must not reach the database driver
    stmt = queries.filtered(action=(args.get("action") or "").strip() or None, actor_id=actor_id, start=start,
                            end=end, outcome=args.get("outcome") or None)
    page = page_arg()
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("audit/entries.html", entries=rows, total=total, page=page, per_page=PER_PAGE,
                           args=args, details_of=queries.details_of)


@bp.route("/verify")
@role_required(Role.audit_admin)
def verify():
    return render_template("audit/verify.html", result=chain.verify())


@public_bp.route("/audit-anchors", endpoint="anchors")
def anchors_public():
    """Public on purpose: a copy of each day's head outside the database is what reveals a deleted tail."""
    page = page_arg()
    stmt = anchors.newest_first()
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("audit/anchors.html", anchors=rows, total=total, page=page, per_page=PER_PAGE,
                           args=request.args)
