"""HTML pages, sessions, languages, security headers and error handling."""

from datetime import timedelta

from flask import Flask, abort, has_request_context, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from ..accounts.access import is_commission
from ..accounts.roles import KIND_LABELS, RELATION_LABELS, ROLE_LABELS, STATUS_LABELS
from ..core.clock import local_zone
from ..core.money import format_fen
from ..db import MAX_ID
from ..extensions import babel, csrf, login_manager


def select_locale() -> str:
    languages = ("zh", "en")
    if not has_request_context():
        return "zh"  # jobs and commands write in the default language
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return "zh"  # Simplified Chinese unless the person chose otherwise


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs: a number beyond an INTEGER column names nothing and must not reach the database driver.

    It becomes 0, which no row has, so the view answers its usual 404 (refusing it in the converter would make
    werkzeug answer 405 wherever a sibling rule with another method exists).
    """

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0


def _refuse_nul_input() -> None:
    """PostgreSQL text cannot hold NUL characters: such a query, form or credential is malformed (400, not 500)."""
    auth = request.authorization
    values = [*request.args.values(), *(request.view_args or {}).values(),
              auth.username if auth else None, auth.password if auth else None]
    if request.blueprint != "api" and request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):  # the API reads its body as JSON itself
        values += list(request.form.values())
    if any(isinstance(v, str) and "\x00" in v for v in values):
        abort(400)


def merge_args(args, **changes) -> dict:
    """Query arguments with some changed (None drops one), for filter and pager links."""
    merged = {k: v for k, v in args.items() if v not in ("", None)} | changes
    return {k: v for k, v in merged.items() if v is not None}


def register_web(app: Flask) -> None:
    from . import errors, security
    from .paging import page_url
    from .views import register_blueprints

    app.url_map.converters["int"] = IdConverter
    app.before_request(_refuse_nul_input)
    app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_LIFETIME_HOURS"])
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_timezone=app.config["TIMEZONE"])
    login_manager.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    register_blueprints(app)
    from . import booking_admin_views, booking_page_views, calendar_views, ledger_views, notification_views
    from .booking_views import bp as bookings_bp

    app.register_blueprint(bookings_bp)
    for module in (booking_page_views, booking_admin_views, calendar_views, notification_views, ledger_views):
        app.register_blueprint(module.bp)
    from . import adjustment_views

    app.register_blueprint(adjustment_views.bp)
    from . import dashboard_views, report_views

    app.register_blueprint(dashboard_views.bp)
    app.register_blueprint(report_views.bp)
    from . import voucher_audit_views, voucher_views

    app.register_blueprint(voucher_views.bp)
    app.register_blueprint(voucher_audit_views.bp)

    @app.template_filter("localtime")
    def localtime(value, fmt: str = "yyyy-MM-dd HH:mm"):
        return format_datetime(value.astimezone(local_zone()), fmt) if value else ""

    app.jinja_env.filters["fen"] = format_fen
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.globals["is_commission"] = is_commission
    app.jinja_env.filters["merge_args"] = merge_args

    @app.context_processor
    def labels():
        from ..bookings.labels import BOOKING_STATUS_LABELS
        from ..catalogue.fields import SERVICE_MODE_LABELS

        return {"role_labels": ROLE_LABELS, "kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS,
                "relation_labels": RELATION_LABELS, "booking_status_labels": BOOKING_STATUS_LABELS,
                "mode_labels": SERVICE_MODE_LABELS}
