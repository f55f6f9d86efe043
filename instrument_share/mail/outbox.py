"""Queue mail in the caller's transaction; deliver it later, one message at a time, with retries."""

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app, render_template
from sqlalchemy import select, update

from ..core.clock import now_utc
from ..db import db
from .models import OutboxMessage

log = logging.getLogger(__name__)


def enqueue(recipient: str | None, subject: str, template: str, **context) -> OutboxMessage | None:
    """Render a mail from templates/mail/<template>.txt and add it to the outbox (never commits).

    A person without an address (an account made on the command line without --email) gets no mail: None.
    """
    if not recipient:
        return None
    body = render_template(f"mail/{template}.txt", **context)
    message = OutboxMessage(recipient=recipient, subject=str(subject), body=body, next_attempt_at=now_utc())
    db.session.add(message)
    db.session.flush()
    return message


def _deliver(message: OutboxMessage) -> None:
    cfg = current_app.config
    if not cfg["MAIL_SERVER"]:
        log.info("mail (development, not sent) to=%s subject=%s\n%s", message.recipient, message.subject, message.body)
        return
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = cfg["MAIL_SENDER"], message.recipient, message.subject
    email.set_content(message.body)
    smtp_class = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
    with smtp_class(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=30) as smtp:
        if cfg["MAIL_USE_TLS"] and not cfg["MAIL_USE_SSL"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        smtp.send_message(email)


def retry_delay(attempts: int) -> timedelta:
    """Back off 1, 2, 4 … minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def send_due(limit: int = 100, deliver=_deliver) -> dict[str, int]:
    """Send messages that are due, each in its own transaction so one failure never holds back the rest.

    A message is claimed by moving its next attempt forward before sending, so a second sender (or a crash
    followed by a restart) sends it at most once per lease.
    """
    counts = {"sent": 0, "retry": 0, "failed": 0}
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    for _ in range(limit):
        with db.transaction() as session:
            now = now_utc()
            message = session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1).with_for_update(skip_locked=True)
                # The claim below compares attempts: use the stored row, not a copy an earlier run left in the session.
                .execution_options(populate_existing=True)
            ).first()
            if message is None:
                break
            message_id, recipient, attempt = message.id, message.recipient, message.attempts + 1
            claimed = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.attempts == attempt - 1)
                .values(attempts=attempt, next_attempt_at=now + retry_delay(attempt))
                .execution_options(synchronize_session=False)
            ).rowcount
        if not claimed:
            continue
        try:
            deliver(message)
        except Exception as exc:  # any transport failure is recorded and retried
            failed = attempt >= max_attempts
            with db.transaction():
                db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
                    last_error=f"{type(exc).__name__}: {exc}"[:2000], status="failed" if failed else "pending")
                    .execution_options(synchronize_session=False))
            counts["failed" if failed else "retry"] += 1
            log.warning("mail %s to %s failed (attempt %s): %s", message_id, recipient, attempt, exc)
            continue
        with db.transaction():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                               .values(status="sent", sent_at=now_utc()).execution_options(synchronize_session=False))
        counts["sent"] += 1
    return counts
