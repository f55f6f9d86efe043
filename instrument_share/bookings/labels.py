from flask_babel import lazy_gettext as _l

from .states import BookingStatus

BOOKING_STATUS_LABELS = {
    BookingStatus.pending: _l("Waiting for confirmation"), BookingStatus.confirmed: _l("Confirmed"),
    BookingStatus.rejected: _l("Rejected"), BookingStatus.cancelled: _l("Cancelled"),
    BookingStatus.in_progress: _l("In progress"), BookingStatus.completed: _l("Completed"),
    BookingStatus.no_show: _l("No-show"),
}
