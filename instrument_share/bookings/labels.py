from flask_babel import lazy_gettext as _l

BOOKING_STATUS_LABELS = {
    "pending": _l("Waiting for confirmation"), "confirmed": _l("Confirmed"), "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"), "in_progress": _l("In progress"), "completed": _l("Completed"),
    "no_show": _l("No-show"),
}
