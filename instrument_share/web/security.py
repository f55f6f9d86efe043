"""Session rules (versioned cookies, idle and absolute timeouts) and security headers on every response."""

import time

from flask import Flask, abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..accounts.models import User
from ..accounts.roles import OrgStatus
from ..db import db
from ..extensions import login_manager

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'self'")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """A cookie names the user and the session version it was issued under; a bumped version ends it."""
    try:
        raw_id, raw_version = user_id.split(":", 1)
        uid, version = int(raw_id), int(raw_version)
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version or user.is_disabled:
        return None
    if user.organization.status == OrgStatus.suspended:
        return None
    return user


def start_session(user: User) -> None:
    """Sign the user in on a fresh session (no fixation), stamped for the timeouts."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.permanent = True
    login_user(user)
    session["login_at"] = session["seen"] = int(time.time())


def end_session() -> None:
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)

    @app.before_request
    def enforce_session_limits():
        if request.blueprint == "api" or request.endpoint in (None, "static"):
            return None
        if not current_user.is_authenticated:
            return None
        now = int(time.time())
        idle = app.config["IDLE_TIMEOUT_MINUTES"] * 60
        lifetime = app.config["SESSION_LIFETIME_HOURS"] * 3600
        seen, started = session.get("seen", 0), session.get("login_at", 0)
        if now - seen > idle or now - started > lifetime:
            end_session()
            flash(_("Your session has expired. Please sign in again."), "warning")
            if request.method == "GET":
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            abort(401)
        session["seen"] = now
        return None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.blueprint == "api" or current_user.is_authenticated:
            headers["Cache-Control"] = "no-store"
        return response
