"""The JSON API (/api/v1); docs/api.md is its guide, and /api/v1/openapi.json its machine-readable description."""

# Each module's routes register themselves on api_bp when it is imported.
from . import (  # noqa: F401
    accounts,
    adjustment_requests,
    audit_log,
    bookings,
    catalogue,
    ledger,
    openapi,
    statistics,
    voucher_actions,
    vouchers,
)
from .core import api_bp

__all__ = ["api_bp", "register_api"]


def register_api(app) -> None:
    """Mount the API; called by the app factory after the pages (whose CSRF protection it is exempt from)."""
    from ..extensions import csrf

    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # the API accepts only bearer tokens, never the session cookie, so it has no CSRF surface
