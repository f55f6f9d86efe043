"""Sign-in lockout, counted in the database so that it holds across worker processes and servers.

Failed passwords and codes are counted per pair (account, source address): LOCKOUT_THRESHOLD of them within
LOCKOUT_WINDOW_MINUTES lock that pair for LOCKOUT_DURATION_MINUTES, so someone guessing from one address cannot lock
the owner out everywhere else. The account as a whole locks only at LOCKOUT_ACCOUNT_THRESHOLD failures within the same
window (a guess spread over many addresses); its owner and every security administrator are then told by mail.

Callers hold the user's row (PostgreSQL FOR UPDATE, SQLite's write lock), so counting and locking are serialised per
account. Nothing here tells the caller which rule refused: the sign-in answers the same for every refusal, and the
reason goes to the audit log.
"""

from datetime import timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..db import db
from ..mail import outbox
from .holders import active_holders
from .models import LoginFailure, LoginLock, User
from .roles import Role

UNKNOWN_ADDRESS = "unknown"


def source(remote_addr: str | None) -> str:
    """The address failures are counted under: the client address (after ProxyFix), or a fixed stand-in."""
    return (remote_addr or UNKNOWN_ADDRESS)[:64]


def lock_reason(user: User, address: str) -> str | None:
    """Why sign-in to this account from this address is refused now ("locked_account", "locked_pair"), or None."""
    now = now_utc()
    if user.locked_until is not None and user.locked_until > now:
        return "locked_account"
    pair = db.session.get(LoginLock, (user.id, address))
    if pair is not None and pair.locked_until > now:
        return "locked_pair"
    return None


def _count(*conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginFailure).where(*conditions))


def record_failure(user: User, address: str, *, reason: str) -> None:
    """Count a wrong password or code; lock the pair at the threshold, the whole account at the higher one."""
    cfg, now = current_app.config, now_utc()
    window_start = now - timedelta(minutes=cfg["LOCKOUT_WINDOW_MINUTES"])
    until = now + timedelta(minutes=cfg["LOCKOUT_DURATION_MINUTES"])
    db.session.add(LoginFailure(user_id=user.id, failed_at=now, remote_addr=address))
    db.session.flush()
    pair = db.session.get(LoginLock, (user.id, address))
    # Failures up to the end of the pair's last lock caused that lock; they never count toward the next one.
    pair_since = max(window_start, pair.locked_until) if pair is not None else window_start
    pair_failures = _count(LoginFailure.user_id == user.id, LoginFailure.remote_addr == address,
                           LoginFailure.failed_at > pair_since)
    account_failures = _count(LoginFailure.user_id == user.id, LoginFailure.failed_at > window_start)
    audit.append("login.failure", actor=user, object_type="user", object_id=user.id, outcome="failure",
                 details={"reason": reason, "failures_in_window": pair_failures,
                          "account_failures_in_window": account_failures})
    if pair_failures >= cfg["LOCKOUT_THRESHOLD"]:
        if pair is None:
            pair = LoginLock(user_id=user.id, remote_addr=address)
            db.session.add(pair)
        pair.locked_until = until
        audit.append("login.pair_locked", actor=user, object_type="user", object_id=user.id, outcome="failure",
                     details={"until": until.isoformat(), "failures": pair_failures, "address": address})
    if account_failures >= cfg["LOCKOUT_ACCOUNT_THRESHOLD"]:
        user.locked_until = until
        # The account-wide count starts afresh once this lock ends.
        db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
        notified = _tell_about_account_lock(user, account_failures)
        audit.append("account.locked", actor=user, object_type="user", object_id=user.id, outcome="failure",
                     details={"until": until.isoformat(), "failures": account_failures, "notified": notified})
    db.session.flush()


def _tell_about_account_lock(user: User, failures: int) -> int:
    """Mail the owner and every active security administrator (those with an address); return how many."""
    admins = active_holders(Role.security_admin, except_user_id=user.id)
    sent = 0
    for recipient in [user, *admins]:
        # The request that locked the account is the attacker's: write in the recipient's language instead.
        with force_locale(recipient.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            message = outbox.enqueue(recipient.email, _("Sign-in to the account %(username)s is locked",
                                                        username=user.username),
                                     "account_locked", reader=recipient, user=user, failures=failures,
                                     until=user.locked_until, owner=recipient.id == user.id)
        sent += message is not None
    return sent


def clear_pair(user: User, address: str) -> None:
    """A successful sign-in from this address forgets that pair's failures and its ended lock."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id, LoginFailure.remote_addr == address))
    db.session.execute(delete(LoginLock).where(LoginLock.user_id == user.id, LoginLock.remote_addr == address))


def clear_all(user: User) -> None:
    """A new password (reset by mailed link) makes every guess at the old one moot: all locks and counts go."""
    user.locked_until = None
    db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
    db.session.execute(delete(LoginLock).where(LoginLock.user_id == user.id))


def purge() -> int:
    """Delete failures older than the window and pair locks that ended before it (a scheduled job)."""
    cutoff = now_utc() - timedelta(minutes=current_app.config["LOCKOUT_WINDOW_MINUTES"])
    failures = db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= cutoff)).rowcount
    locks = db.session.execute(delete(LoginLock).where(LoginLock.locked_until <= cutoff)).rowcount
    return failures + locks
