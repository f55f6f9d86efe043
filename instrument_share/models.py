"""Import every model so that Alembic and create_app see the whole schema."""

from .accounts.models import (
    AccountToken,
    ApiToken,
    Invitation,
    LoginFailure,
    Organization,
    OrgRelation,
    RoleGrant,
    User,
)
from .audit.models import AuditEntry
from .bookings.models import (
    Blackout,
    Booking,
    BookingRuleSet,
    CalendarToken,
    ContractTemplate,
    IdempotencyRecord,
    Notification,
    OrganizationBlock,
    ServiceContract,
)
from .catalogue.models import (
    Clearance,
    Instrument,
    InstrumentCategory,
    InstrumentRevision,
    InstrumentSearchRow,
    Resource,
    ResourceInstrument,
)
from .files.models import StoredFile
from .mail.models import OutboxMessage
from .scheduling.models import JobRun

__all__ = [
    "AccountToken",
    "ApiToken",
    "AuditEntry",
    "Blackout",
    "Booking",
    "BookingRuleSet",
    "CalendarToken",
    "Clearance",
    "ContractTemplate",
    "IdempotencyRecord",
    "Instrument",
    "InstrumentCategory",
    "InstrumentRevision",
    "InstrumentSearchRow",
    "Invitation",
    "JobRun",
    "LoginFailure",
    "Notification",
    "OrgRelation",
    "Organization",
    "OrganizationBlock",
    "OutboxMessage",
    "Resource",
    "ResourceInstrument",
    "RoleGrant",
    "ServiceContract",
    "StoredFile",
    "User",
]
