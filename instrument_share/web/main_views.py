"""Home page and language choice."""

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..accounts.forms import PlainForm
from ..db import db
from .helpers import safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
def home():
    return render_template("main/home.html")


@bp.route("/language", methods=["POST"])
def set_language():
    form = PlainForm()
    lang = request.form.get("lang")
    if form.validate_on_submit() and lang in ("zh", "en"):
        session["lang"] = lang
        if current_user.is_authenticated:
            with db.transaction():
                current_user.locale = lang
    return redirect(safe_next(request.form.get("next"), url_for("main.home")))
