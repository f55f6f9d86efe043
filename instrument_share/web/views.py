"""Register the HTML blueprints."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import admin_views, audit_views, auth_views, main_views, org_views, profile_views

    for module in (main_views, auth_views, profile_views, org_views, admin_views, audit_views):
        app.register_blueprint(module.bp)
