"""Sign-in rules: passwords, two-factor codes (lockout: lockout.py), resets, and the end of sessions and tokens."""

from dataclasses import dataclass
from datetime import timedelta

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import NotFound, PermissionDenied, ValidationFailed
from ..db import db
from ..mail import outbox
from . import lockout, secrets, tokens
from .models import AccountToken, User
from .roles import OrgStatus

RESET_VALID = timedelta(hours=1)


@dataclass
class LoginResult:
    user: User | None
    # invalid_credentials (unknown account, wrong password, locked: the caller is never told which)
    # | email_not_confirmed | disabled | organization_suspended (told only to whoever knows the password)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def invalid_credentials_message() -> str:
    """The one answer to an unknown account, a wrong password or code and a lock, on pages and in the API."""
    return _("Sign-in failed: the user name, password or code is wrong, or there were too many failed attempts. "
             "Try again later or reset your password.")


def _load_for_update(username: str) -> User | None:
    return db.session.scalars(select(User).where(func.lower(User.username) == (username or "").strip().lower())
                              .with_for_update()).first()


def _refuse_locked(user: User, reason: str) -> None:
    audit.append("login.refused", actor=user, object_type="user", object_id=user.id, outcome="failure",
                 details={"reason": reason})


def authenticate(username: str, password: str, *, remote_addr: str | None) -> LoginResult:
    """Check a password inside the caller's write transaction; failures are recorded, so the caller commits.

    An unknown account, a wrong password and a locked one answer alike, and each runs the password hash once, so
    neither the answer nor its time tells them apart; the audit log keeps the reason.
    """
    address = lockout.source(remote_addr)
    user = _load_for_update(username)
    if user is None:
        secrets.password_matches(None, password)
        audit.append("login.failure", outcome="failure", details={"reason": "unknown_user",
                                                                   "username": (username or "")[:64]})
        return LoginResult(None, "invalid_credentials")
    password_ok = secrets.password_matches(user.password_hash, password)
    if locked := lockout.lock_reason(user, address):
        _refuse_locked(user, locked)
        return LoginResult(None, "invalid_credentials")
    if not password_ok:
        lockout.record_failure(user, address, reason="bad_password")
        return LoginResult(None, "invalid_credentials")
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


def complete_login(user: User, *, method: str, remote_addr: str | None) -> None:
    """Record a successful sign-in (after the second factor, when there is one); that pair's failures are forgotten."""
    user.last_login_at = now_utc()
    lockout.clear_pair(user, lockout.source(remote_addr))
    audit.append("login.success", actor=user, object_type="user", object_id=user.id, details={"method": method})


def check_totp(user: User, code: str, *, remote_addr: str | None) -> bool:
    """Verify a second-factor code (replays refused); a wrong code counts toward the lockout like a wrong password."""
    if not user.totp_secret:
        return False
    address = lockout.source(remote_addr)
    if locked := lockout.lock_reason(user, address):
        _refuse_locked(user, locked)
        return False
    step = secrets.totp_step(user.totp_secret, code, last_step=user.totp_last_step, at=now_utc())
    if step is None:
        lockout.record_failure(user, address, reason="bad_totp")
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
    """Invalidate every session cookie of the user (logout)."""
    user.session_version += 1
    audit.append("logout" if reason == "logout" else "sessions.ended", actor=user, object_type="user",
                 object_id=user.id, details={"reason": reason})


def end_access(user: User, *, actor, reason: str) -> None:
    """A changed or reset password, a disabled account or a removed role ends every session and API token.

    A token (90 days) or a session made under the old password or privileges must not outlive the change; the
    caller starts a new session for the person at hand where that is right (their own password change).
    """
    user.session_version += 1
    revoked = tokens.revoke_all([user.id])
    audit.append("access.ended", actor=actor, organization_id=user.organization_id, object_type="user",
                 object_id=user.id, details={"reason": reason, "tokens_revoked": revoked})


def change_password(user: User, current: str, new: str) -> None:
    if not secrets.password_matches(user.password_hash, current):
        raise ValidationFailed(_("The current password is wrong."), fields={"current_password": _("wrong password")})
    _set_password(user, new, field="new_password")
    audit.append("password.changed", actor=user, object_type="user", object_id=user.id)
    end_access(user, actor=user, reason="password_changed")


def _set_password(user: User, new: str, *, field: str) -> None:
    secrets.check_password_policy(new or "", username=user.username, field=field)
    user.password_hash = secrets.hash_password(new)
    user.password_changed_at = now_utc()


def request_password_reset(email: str) -> None:
    """Mail a single-use link to every active account with this address; silent when there is none.

    Accounts without an address (made on the command line) are never found: nothing to compare with.
    """
    wanted = (email or "").strip().lower()
    if not wanted:
        return
    accounts = db.session.scalars(select(User).where(User.email.is_not(None), func.lower(User.email) == wanted,
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
    lockout.clear_all(user)
    audit.append("password.reset", actor=user, object_type="user", object_id=user.id)
    end_access(user, actor=user, reason="password_reset")
    return user


def confirm_email(token: str) -> User:
    row = _redeem(token, "confirm_email", consume=True)
    user = db.session.get(User, row.user_id)
    user.email_confirmed_at = user.email_confirmed_at or now_utc()
    audit.append("email.confirmed", actor=user, object_type="user", object_id=user.id)
    return user
