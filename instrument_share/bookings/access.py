"""Who may do what with bookings (docs/api.md "Bookings"): the one place services, API and pages ask.

Shaped like ledger.access: predicates, checks that return (or raise) the refusal, the SQL filter for lists, and a
loader that answers 404 for a booking the viewer may not know exists.

"Operator of the unit" is catalogue.access.is_operator_of everywhere — a signed-in, enabled provider_operator of a
verified provider organisation — the same definition the ledger's readable_clause uses, so a role granted inside a
pending organisation (or one that is no provider) opens no unit's bookings.
"""


from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from ..accounts.access import signed_in
from ..accounts.roles import OrgStatus, Role
from ..catalogue.access import is_operator_of
from ..catalogue.clearances import is_cleared
from ..catalogue.fields import Status
from ..catalogue.listings import is_expired
from ..catalogue.models import Instrument
from ..core.clock import local_zone
from ..core.errors import Conflict, DomainError, NotAuthenticated, NotFound, PermissionDenied
from ..db import db
from . import violations
from .models import Booking
from .rules import RuleViolation

# ------------------------------------------------------------------------------------------------ predicates


def is_unit_operator(actor, booking: Booking) -> bool:
    """An instrument operator of the unit that owns the booked instrument."""
    return is_operator_of(actor, booking.unit_id)


def is_booking_organisation(actor, booking: Booking) -> bool:
    """A user of the organisation that made the booking."""
    return signed_in(actor) and actor.organization_id == booking.organization_id


def may_cancel(actor, booking: Booking) -> bool:
    return is_booking_organisation(actor, booking) or is_unit_operator(actor, booking)


# ------------------------------------------------------------------------------------------------ checks


def require_unit_operator(actor, booking: Booking) -> None:
    if not is_unit_operator(actor, booking):
        raise PermissionDenied(_("Only the owning unit's instrument operators do this."))


def require_may_cancel(actor, booking: Booking) -> None:
    if not may_cancel(actor, booking):
        raise PermissionDenied(_("Only the booking organisation or the unit cancels this booking."))


def _blocked_refusal(organization_id: int, unit_id: int) -> DomainError | None:
    until = violations.blocked_until(organization_id, unit_id)
    if until is None:
        return None
    local_day = until.astimezone(local_zone()).strftime("%Y-%m-%d")
    return PermissionDenied(_("Your organisation is blocked from booking this unit's instruments until %(until)s "
                              "after repeated violations.", until=local_day), code="organization_blocked")


def booking_refusal(actor, instrument: Instrument, mode: str | None = None) -> DomainError | None:
    """Why `actor` may not book `instrument` (in `mode`, when given), or None when they may.

    The service raises the refusal; the booking page shows its message instead of the forms. The order is the
    API's: the first refusal that applies is the one answered."""
    if not signed_in(actor):
        return NotAuthenticated(_("Sign in to book this instrument."))
    org = actor.organization
    if org.status != OrgStatus.verified or not actor.has_role(Role.sme_user, Role.provider_operator):
        return PermissionDenied(_("Users of verified organisations with a booking role book instruments."))
    if instrument.owner_id == org.id:
        return PermissionDenied(_("A unit does not book its own instruments here."), code="own_instrument")
    if instrument.status != Status.published or is_expired(instrument):
        return Conflict(_("The instrument is not available for booking."), code="instrument_unavailable")
    if instrument.is_defence and not is_cleared(org.id, instrument.owner_id):
        return PermissionDenied(_("Only organisations the defence unit has cleared may book its instruments."),
                                code="not_cleared")
    if blocked := _blocked_refusal(org.id, instrument.owner_id):
        return blocked
    if mode is not None and mode not in instrument.modes:
        return RuleViolation(_("The instrument does not offer this service mode."), code="mode_not_offered")
    return None


def require_may_book(actor, instrument: Instrument, mode: str | None = None) -> None:
    if refusal := booking_refusal(actor, instrument, mode):
        raise refusal


# ------------------------------------------------------------------------------------------------ lists and loading


def visible_bookings(actor) -> Select:
    """The bookings `actor` may see: their organisation's, and, for the unit's operators, the unit's."""
    clauses = [Booking.organization_id == actor.organization_id]
    if is_operator_of(actor, actor.organization_id):
        clauses.append(Booking.unit_id == actor.organization_id)
    return select(Booking).where(or_(*clauses))


def find_booking(booking_id: int, actor) -> Booking | None:
    """The booking when `actor` may see it; None alike for a missing one and one they may not know exists."""
    return db.session.scalar(visible_bookings(actor).where(Booking.id == booking_id))


def load_booking(booking_id: int, actor) -> Booking:
    booking = find_booking(booking_id, actor)
    if booking is None:
        raise NotFound(_("No such booking."))
    return booking
