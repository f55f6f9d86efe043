"""The JSON API (/api/v1), following the binding contract in shared/docs/api.md."""

from . import accounts, audit_log, bookings, catalogue, openapi  # noqa: F401  routes register themselves on api_bp
from .core import api_bp

__all__ = ["api_bp"]
