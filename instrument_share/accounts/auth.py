"""Sign-in rules: passwords, lockout counted in the database, two-factor codes, resets and session ends."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import NotFound, PermissionDenied, ValidationFailed
from ..db import db
from ..mail import outbox
from . import secrets
from .models import AccountToken, LoginFailure, User
from .roles import OrgStatus

RESET_VALID = timedelta(hours=1)


@dataclass
class LoginResult:
    user: User | None
    error: str | None = None  # bad_credentials | locked | email_not_confirmed | disabled | organization_suspended

    @property
    def ok(self) -> bool:
        return self.error is None


def _locked(user: User, now) -> bool:
    return user.locked_until is not None and user.locked_until > now


def record_failure(user: User, *, reason: str) -> bool:
    """Count a failed attempt and lock the account at the threshold; return True when it is now locked.

    The count lives in the database (the caller holds the row or write lock), so the limit holds across
    worker processes and servers.
    """
    cfg, now = current_app.config, now_utc()
    db.session.add(LoginFailure(user_id=user.id, failed_at=now))
    db.session.flush()
    window_start = now - timedelta(minutes=cfg["LOCKOUT_WINDOW_MINUTES"])
    failures = db.session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.user_id == user.id, LoginFailure.failed_at > window_start))
    audit.append("login.failure", actor=user, object_type="user", object_id=user.id, outcome="failure",
                 details={"reason": reason, "failures_in_window": failures})
    if failures >= cfg["LOCKOUT_THRESHOLD"]:
        user.locked_until = now + timedelta(minutes=cfg["LOCKOUT_DURATION_MINUTES"])
        db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
        audit.append("account.locked", actor=user, object_type="user", object_id=user.id, outcome="failure",
                     details={"until": user.locked_until.isoformat(), "failures": failures})
        return True
    return False


def _load_for_update(username: str) -> User | None:
    return db.session.scalars(select(User).where(func.lower(User.username) == (username or "").strip().lower())
                              .with_for_update()).first()


def authenticate(username: str, password: str) -> LoginResult:
    """Check a password inside the caller's write transaction; failures are recorded, so the caller commits."""
    now = now_utc()
    user = _load_for_update(username)
    if user is None:
        secrets.password_matches(None, password)
        audit.append("login.failure", outcome="failure", details={"reason": "unknown_user",
                                                                   "username": (username or "")[:64]})
        return LoginResult(None, "bad_credentials")
    if _locked(user, now):
        audit.append("login.refused", actor=user, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": "locked"})
        return LoginResult(user, "locked")
    if not secrets.password_matches(user.password_hash, password):
        return LoginResult(user, "locked" if record_failure(user, reason="bad_password") else "bad_credentials")
    refusal = None
    if user.is_disabled:
        refusal = "disabled"
    elif user.email_confirmed_at is None:
        refusal = "email_not_confirmed"
    elif user.organization.status == OrgStatus.suspended:
        refusal = "organization_suspended"
    if refusal:
        audit.append("login.refused", actor=user, object_type="user", object_id=user.id, outcome="failure",
                     details={"reason": refusal})
        return LoginResult(user, refusal)
    return LoginResult(user)


def complete_login(user: User, *, method: str) -> None:
    """Record a successful sign-in (after the second factor, when there is one)."""
    user.last_login_at = now_utc()
    user.locked_until = None
    db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
    audit.append("login.success", actor=user, object_type="user", object_id=user.id, details={"method": method})


def check_totp(user: User, code: str) -> bool:
    """Verify a second-factor code (replays refused); a wrong code counts toward the lockout."""
    if _locked(user, now_utc()) or not user.totp_secret:
        return False
    step = secrets.totp_step(user.totp_secret, code, last_step=user.totp_last_step, at=now_utc())
    if step is None:
        record_failure(user, reason="bad_totp")
        return False
    user.totp_last_step = step
    return True


def enable_totp(user: User, secret: str, code: str) -> None:
    step = secrets.totp_step(secret, code, last_step=None, at=now_utc())
    if step is None:
        raise ValidationFailed(_("The code does not match; check the time on your phone and try again."),
                               code="bad_totp", fields={"code": _("wrong code")})
    user.totp_secret, user.totp_enabled_at, user.totp_last_step = secret, now_utc(), step
    user.session_version += 1  # ASVS 7.4.3: other sessions end after a second-factor change
    audit.append("totp.enabled", actor=user, object_type="user", object_id=user.id)


def disable_totp(user: User, password: str) -> None:
    if user.needs_totp:
        raise PermissionDenied(_("Your roles require two-factor login."), code="totp_required")
    if not secrets.password_matches(user.password_hash, password):
        raise ValidationFailed(_("The password is wrong."), fields={"password": _("wrong password")})
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.session_version += 1
    audit.append("totp.disabled", actor=user, object_type="user", object_id=user.id)


def end_sessions(user: User, *, reason: str) -> None:
    """Invalidate every session cookie of the user (logout, password change, disabling)."""
    user.session_version += 1
    audit.append("logout" if reason == "logout" else "sessions.ended", actor=user, object_type="user",
                 object_id=user.id, details={"reason": reason})


def change_password(user: User, current: str, new: str) -> None:
    if not secrets.password_matches(user.password_hash, current):
        raise ValidationFailed(_("The current password is wrong."), fields={"current_password": _("wrong password")})
    _set_password(user, new, field="new_password")
    audit.append("password.changed", actor=user, object_type="user", object_id=user.id)


def _set_password(user: User, new: str, *, field: str) -> None:
    secrets.check_password_policy(new or "", username=user.username, field=field)
    user.password_hash = secrets.hash_password(new)
    user.password_changed_at = now_utc()
    user.session_version += 1


def request_password_reset(email: str) -> None:
    """Mail a single-use link to every active account with this address; silent when there is none."""
    accounts = db.session.scalars(select(User).where(func.lower(User.email) == (email or "").strip().lower(),
                                                     User.is_disabled.is_(False))).all()
    for user in accounts:
        secret, digest = secrets.new_token()
        db.session.add(AccountToken(purpose="reset_password", user_id=user.id, token_hash=digest,
                                    expires_at=now_utc() + RESET_VALID))
        outbox.enqueue(user.email, _("Reset your password"), "reset_password", user=user,
                       link=url_for("auth.reset_password", token=secret, _external=True))
        audit.append("password.reset_requested", actor=user, object_type="user", object_id=user.id)


def _redeem(token: str, purpose: str, *, consume: bool) -> AccountToken:
    row = db.session.scalars(select(AccountToken).where(
        AccountToken.token_hash == secrets.token_hash(token or ""), AccountToken.purpose == purpose)
        .with_for_update()).first()
    if row is None or row.used_at is not None or row.expires_at <= now_utc():
        raise NotFound(_("This link is not valid (used, expired or unknown)."), code="invalid_token")
    if consume:
        row.used_at = now_utc()
    return row


def reset_token_valid(token: str) -> bool:
    try:
        _redeem(token, "reset_password", consume=False)
    except NotFound:
        return False
    return True


def reset_password(token: str, new: str) -> User:
    row = _redeem(token, "reset_password", consume=True)
    user = db.session.get(User, row.user_id)
    _set_password(user, new, field="password")
    # Every other reset link of this user dies with this one.
    for other in db.session.scalars(select(AccountToken).where(
            AccountToken.user_id == user.id, AccountToken.purpose == "reset_password", AccountToken.used_at.is_(None))):
        other.used_at = now_utc()
    user.locked_until = None
    audit.append("password.reset", actor=user, object_type="user", object_id=user.id)
    return user


def confirm_email(token: str) -> User:
    row = _redeem(token, "confirm_email", consume=True)
    user = db.session.get(User, row.user_id)
    user.email_confirmed_at = user.email_confirmed_at or now_utc()
    audit.append("email.confirmed", actor=user, object_type="user", object_id=user.id)
    return user


def purge_login_failures() -> int:
    """Delete failure counters older than the lockout window (a scheduled job)."""
    cutoff = now_utc() - timedelta(minutes=current_app.config["LOCKOUT_WINDOW_MINUTES"])
    return db.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= cutoff)).rowcount
