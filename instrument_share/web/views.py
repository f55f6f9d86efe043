"""Register the HTML blueprints."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import (
        admin_views,
        approver_views,
        audit_views,
        auth_views,
        catalogue_views,
        category_views,
        clearance_views,
        import_views,
        main_views,
        org_views,
        profile_views,
        provider_views,
        resource_views,
    )

    for module in (main_views, auth_views, profile_views, org_views, admin_views, audit_views, catalogue_views,
                   provider_views, approver_views, clearance_views, resource_views, category_views,
                   import_views):
        app.register_blueprint(module.bp)
    app.register_blueprint(audit_views.public_bp)
