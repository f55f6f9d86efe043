"""The signed-in person's profile: password, two-factor login, API tokens, language."""

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..accounts import auth, secrets, tokens
from ..accounts.forms import ChangePasswordForm, PasswordConfirmForm, PlainForm, TokenForm, TotpForm
from ..db import db
from .actions import run_action
from .auth_views import totp_qr
from .security import start_session

bp = Blueprint("profile", __name__, url_prefix="/profile")


def _page(new_token: str | None = None, **forms):
    user = current_user._get_current_object()
    defaults = {"password_form": ChangePasswordForm(prefix="pw"), "token_form": TokenForm(prefix="tok"),
                "plain_form": PlainForm(), "totp_off_form": PasswordConfirmForm(prefix="off")}
    return render_template("profile/profile.html", user=user, tokens=tokens.user_tokens(user),
                           new_token=new_token, **(defaults | forms))


@bp.route("/")
@login_required
def show():
    return _page()


@bp.route("/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        user = current_user._get_current_object()
        done = run_action(lambda: auth.change_password(user, form.current_password.data, form.new_password.data),
                          form=form)
        if done.refused:
            return _page(password_form=form), done.status
        start_session(user)  # this session goes on; every other one has ended
        flash(_("Password changed. Your other sessions have been signed out."), "info")
        return redirect(url_for("profile.show"))
    return _page(password_form=form), 422


@bp.route("/totp", methods=["GET", "POST"])
@login_required
def enrol_totp():
    user = current_user._get_current_object()
    secret = session.setdefault("totp_setup", secrets.new_totp_secret())
    form = TotpForm()
    if form.validate_on_submit():
        done = run_action(lambda: auth.enable_totp(user, secret, form.code.data), form=form)
        if done.refused:  # shown below: a code that does not match is tried again on the same page (200)
            return render_template("auth/totp_enrol.html", form=form, secret=secret,
                                   qr=totp_qr(secret, user.username), required=False)
        session.pop("totp_setup", None)
        start_session(user)
        flash(_("Two-factor login is on."), "info")
        return redirect(url_for("profile.show"))
    return render_template("auth/totp_enrol.html", form=form, secret=secret, qr=totp_qr(secret, user.username),
                           required=False)


@bp.route("/totp/disable", methods=["POST"])
@login_required
def disable_totp():
    form = PasswordConfirmForm(prefix="off")
    user = current_user._get_current_object()
    if form.validate_on_submit():
        done = run_action(lambda: auth.disable_totp(user, form.password.data), form=form)
        if done.refused:
            return _page(totp_off_form=form), done.status
        start_session(user)
        flash(_("Two-factor login is off."), "info")
        return redirect(url_for("profile.show"))
    return _page(totp_off_form=form), 422


@bp.route("/tokens", methods=["POST"])
@login_required
def create_token():
    form = TokenForm(prefix="tok")
    if form.validate_on_submit():
        with db.transaction():
            _token, secret = tokens.create_token(current_user._get_current_object(), form.name.data)
        flash(_("Token created. Copy it now: it is shown only once."), "info")
        return _page(new_token=secret), 201
    return _page(token_form=form), 422


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    if PlainForm().validate_on_submit():
        with db.transaction():
            tokens.revoke_token(current_user._get_current_object(), token_id)
        flash(_("Token revoked."), "info")
    return redirect(url_for("profile.show"))
