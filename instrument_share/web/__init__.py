"""HTML pages, sessions, languages, security headers and error handling."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Flask, session, url_for
from flask_babel import format_datetime, get_locale
from flask_login import current_user

from ..accounts.roles import KIND_LABELS, RELATION_LABELS, ROLE_LABELS, STATUS_LABELS
from ..core.money import format_fen
from ..extensions import babel, csrf, login_manager


def select_locale() -> str:
    languages = ("zh", "en")
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return "zh"  # Simplified Chinese unless the person chose otherwise


def page_url(endpoint: str, args, page: int) -> str:
    """The same listing with the same filters, on another page."""
    return url_for(endpoint, **{k: v for k, v in args.items() if k != "page"}, page=page)


def register_web(app: Flask) -> None:
    from ..api import api_bp
    from . import errors, security
    from .views import register_blueprints

    app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_LIFETIME_HOURS"])
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_timezone=app.config["TIMEZONE"])
    login_manager.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    register_blueprints(app)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # the API accepts only bearer tokens, never the session cookie, so it has no CSRF surface

    tz = ZoneInfo(app.config["TIMEZONE"])

    @app.template_filter("localtime")
    def localtime(value, fmt: str = "yyyy-MM-dd HH:mm"):
        return format_datetime(value.astimezone(tz), fmt) if value else ""

    app.jinja_env.filters["fen"] = format_fen
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["page_url"] = page_url

    @app.context_processor
    def labels():
        return {"role_labels": ROLE_LABELS, "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS,
                "relation_labels": RELATION_LABELS}
