"""The JSON API (/api/v1), following the binding contract in shared/docs/api.md."""

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

__all__ = ["api_bp"]
