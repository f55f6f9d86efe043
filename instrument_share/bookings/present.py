"""Bookings as the API shows them, times in the platform's time zone with offset."""

from ..core.clock import local_iso
from .models import Booking


def booking_json(b: Booking) -> dict:
    data = {"id": b.id, "instrument_id": b.instrument_id, "organization_id": b.organization_id, "user_id": b.user_id,
            "mode": b.mode, "start": local_iso(b.start_at), "end": local_iso(b.end_at), "samples": b.samples,
            "wanted_by": b.wanted_by.isoformat() if b.wanted_by else None, "status": b.status,
            "quote_fen": b.quote_fen, "quote_basis": b.quote_basis, "unit_id": b.unit_id, "reason": b.reason,
            "late_cancellation": b.late_cancellation, "created_at": local_iso(b.created_at)}
    if b.contract_no:
        data["contract_no"] = b.contract_no
    return data
