"""Sign-in with the two-factor step, sign-out, enterprise registration, email confirmation, resets, invitations."""

import time

import segno
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts import auth, organizations, secrets, users
from ..accounts.forms import AcceptInvitationForm, EmailForm, LoginForm, NewPasswordForm, RegisterForm, TotpForm
from ..accounts.models import User
from ..core.errors import DomainError
from ..db import db
from .actions import refusal_status, run_action
from .helpers import safe_next
from .security import end_session, start_session

bp = Blueprint("auth", __name__)
PENDING_SECONDS = 300

LOGIN_MESSAGES = {
    "invalid_credentials": auth.invalid_credentials_message,  # unknown, wrong or locked: one answer
    "disabled": lambda: _("This account is disabled."),
    "email_not_confirmed": lambda: _("Please confirm your email address first: follow the link we sent you."),
    "organization_suspended": lambda: _("Your organisation is suspended."),
}


def _pending_user() -> User | None:
    """The user between password and second factor, if that step has not timed out."""
    pending = session.get("pending_login")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop("pending_login", None)
        return None
    user = db.session.get(User, pending["uid"])
    if user is None or user.session_version != pending["ver"] or user.is_disabled:
        return None
    return user


def _finish(user: User, method: str):
    target = session.get("pending_login", {}).get("next") or request.args.get("next")
    with db.transaction():
        db.session.add(user)
        auth.complete_login(user, method=method, remote_addr=request.remote_addr)
    start_session(user)
    return redirect(safe_next(target, url_for("main.home")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        with db.transaction():
            result = auth.authenticate(form.username.data, form.password.data, remote_addr=request.remote_addr)
        if not result.ok:
            flash(LOGIN_MESSAGES[result.error](), "error")
            return render_template("auth/login.html", form=form), 200
        user = result.user
        if user.has_totp or user.needs_totp:
            session["pending_login"] = {"uid": user.id, "ver": user.session_version, "at": time.time(),
                                        "next": request.args.get("next"), "enrol": not user.has_totp}
            return redirect(url_for("auth.totp_enrol" if not user.has_totp else "auth.totp"))
        return _finish(user, "password")
    return render_template("auth/login.html", form=form)


@bp.route("/login/totp", methods=["GET", "POST"])
def totp():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if not user.has_totp:  # a second factor that is required but not set up yet is enrolled first
        return redirect(url_for("auth.totp_enrol"))
    form = TotpForm()
    if form.validate_on_submit():
        with db.transaction():
            db.session.refresh(user, with_for_update=True)
            ok = auth.check_totp(user, form.code.data, remote_addr=request.remote_addr)
        if ok:
            return _finish(user, "password+totp")
        # A wrong or replayed code and a lock (reached meanwhile) answer alike; while locked every code is refused.
        flash(auth.invalid_credentials_message(), "error")
    return render_template("auth/totp.html", form=form)


def totp_qr(secret: str, username: str) -> str:
    return segno.make(secrets.totp_uri(secret, username), error="m").svg_data_uri(scale=5)


@bp.route("/login/totp/enrol", methods=["GET", "POST"])
def totp_enrol():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.has_totp:  # the code is asked for; knowing the password must not allow enrolling another key
        return redirect(url_for("auth.totp"))
    secret = session["pending_login"].setdefault("secret", secrets.new_totp_secret())
    session.modified = True
    form = TotpForm()
    if form.validate_on_submit():
        def enable():
            db.session.add(user)
            auth.enable_totp(user, secret, form.code.data)

        # A code that does not match is tried again on the same page (200, as on the profile's enrolment page).
        if not run_action(enable, form=form).refused:
            return _finish(user, "password+totp_enrolment")
    return render_template("auth/totp_enrol.html", form=form, secret=secret, qr=totp_qr(secret, user.username),
                           required=True)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    with db.transaction():
        user = current_user._get_current_object()
        auth.end_sessions(user, reason="logout")
    end_session()
    flash(_("You have signed out."), "info")
    return redirect(url_for("main.home"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        sme = organizations.SmeProfile(staff_count=form.staff_count.data,
                                       annual_revenue_fen=form.annual_revenue_yuan.data,
                                       total_assets_fen=form.total_assets_yuan.data, tech_sme_no=form.tech_sme_no.data)
        done = run_action(lambda: organizations.create_organization(
            actor=None, name=form.name.data, uscc=form.uscc.data, kind="enterprise", sme=sme,
            first_user=organizations.FirstUser(form.username.data, form.password.data, form.email.data)), form=form)
        if not done.refused:
            return render_template("auth/registered.html", email=form.email.data)
        status = done.status  # 422 for a bad value, 409 for a duplicate code or user name
    elif form.is_submitted():
        status = 422
    return render_template("auth/register.html", form=form), status


@bp.route("/confirm/<token>")
def confirm_email(token: str):
    done = run_action(lambda: auth.confirm_email(token))
    if done.refused:  # an unknown, used or expired link: 404
        return render_template("auth/link_invalid.html"), done.status
    flash(_("Email address confirmed. The system administrator verifies your organisation next; you may sign "
            "in meanwhile."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit():
        with db.transaction():
            auth.request_password_reset(form.email.data)
        flash(_("If an account uses this address, a reset link valid for one hour is on its way."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    if not auth.reset_token_valid(token):
        return render_template("auth/link_invalid.html"), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        done = run_action(lambda: auth.reset_password(token, form.password.data), form=form)
        if done.refused:
            return render_template("auth/reset.html", form=form), done.status
        flash(_("Your password is set. Please sign in."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    try:  # only reads: no transaction to run
        invitation = users.open_invitation(token)
    except DomainError as exc:  # an unknown, used or expired link (404), or an organisation not verified (409)
        return render_template("auth/link_invalid.html"), refusal_status(exc)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        done = run_action(lambda: users.accept_invitation(token=token, username=form.username.data,
                                                          password=form.password.data), form=form)
        if done.refused:
            return render_template("auth/accept_invitation.html", form=form, invitation=invitation), done.status
        flash(_("Your account is ready. Please sign in."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/accept_invitation.html", form=form, invitation=invitation)
