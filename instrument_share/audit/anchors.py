"""Daily anchors of the audit chain: the head at the end of each Asia/Shanghai day, kept append-only, published
(public page and API) and mailed to every audit administrator, so a deleted or rewritten tail is noticed.

Ordering: the anchor of day D names the newest entry written before D ended (local midnight). The first scheduler
run after that midnight takes it; its own entry `audit.anchored` is appended after it, so the chain's own record
of the anchor is covered by the next day's anchor, never by its own.
"""

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, select

from ..core.clock import local_today, local_zone, now_utc
from ..db import db
from ..mail import outbox
from ..scheduling.claims import run_once
from . import chain
from .models import AuditAnchor, AuditEntry

JOB_NAME = "audit_anchor"


def day_end(day: date) -> datetime:
    """The local midnight that ends `day`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=local_zone())


def newest_first() -> Select:
    return select(AuditAnchor).order_by(AuditAnchor.day.desc())


def anchor_day(day: date, recipients: Callable[[], Iterable]) -> AuditAnchor | None:
    """Anchor a day that has ended, write its audit entry and mail `recipients()`, all in the caller's transaction
    (never commits). None when the day is already anchored. The recipients are the audit administrators; the job
    table passes accounts.holders.audit_admins, since accounts sits above audit and audit may not import it."""
    # Taken before reading the head: an append still in flight from before midnight commits first (PostgreSQL
    # advisory lock; SQLite's write transaction already excludes it), so the head read below is final.
    db.lock(chain.AUDIT_LOCK_KEY)
    if db.session.scalar(select(AuditAnchor.day).where(AuditAnchor.day == day)) is not None:
        return None  # the stored row decides, not a copy a long-lived session may still hold
    head = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.at < day_end(day))
                              .order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, hash_ = (head.seq, head.hash) if head else (0, chain.GENESIS_HASH)
    anchor = AuditAnchor(day=day, seq=seq, hash=hash_, created_at=now_utc())
    db.session.add(anchor)
    db.session.flush()
    chain.append("audit.anchored", object_type="audit_anchor", object_id=day.isoformat(),
                 details={"date": day.isoformat(), "seq": seq, "hash": hash_})
    _mail_audit_admins(anchor, recipients())
    return anchor


def anchor_due(recipients: Callable[[], Iterable]) -> str:
    """Scheduler job: anchor yesterday once. The claim is per local day in job_runs (not per UTC interval), so
    however often the job ticks, and however many schedulers run, each day gets exactly one anchor."""
    day = local_today() - timedelta(days=1)

    def work() -> str:
        anchor = anchor_day(day, recipients)
        return f"already anchored {day}" if anchor is None else f"anchored {day} at {anchor.seq}"

    ran = run_once(JOB_NAME, day.isoformat(), work, lease_seconds=current_app.config["SCHEDULER_LEASE_SECONDS"])
    return f"{day}: {'anchored' if ran else 'done before'}"


def _mail_audit_admins(anchor: AuditAnchor, admins: Iterable) -> None:
    link = _public_link()
    subject = _("Audit chain anchor of %(date)s", date=anchor.day.isoformat())
    for user in admins:
        outbox.enqueue(user.email, subject, "audit_anchor", user=user, date=anchor.day.isoformat(),
                       seq=anchor.seq, hash=anchor.hash, link=link)


def _public_link() -> str:
    """The public anchors page; the scheduler has no request (and usually no SERVER_NAME), so use BASE_URL."""
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return url_for("audit_public.anchors", _external=True)
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https")
    return adapter.build("audit_public.anchors", force_external=True)
