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
from .audit.models import AuditAnchor, AuditEntry
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
    ImportJob,
    Instrument,
    InstrumentCategory,
    InstrumentRevision,
    InstrumentSearchRow,
    ListingPeriod,
    Resource,
    ResourceInstrument,
)
from .files.models import StoredFile
from .ledger.models import AdjustmentRequest, RevenueEntry, ServiceDispute, ServiceRating, ServiceRecord
from .mail.models import OutboxMessage
from .reporting.models import OperationReport, StatisticsSnapshot
from .scheduling.models import JobRun
from .vouchers.models import (
    VoucherApproval,
    VoucherClaim,
    VoucherClaimedRecord,
    VoucherClaimLine,
    VoucherClaimSignal,
    VoucherEvidence,
    VoucherPolicy,
    VoucherYearTotal,
)

__all__ = [
    "AccountToken",
    "AdjustmentRequest",
    "ApiToken",
    "AuditAnchor",
    "AuditEntry",
    "Blackout",
    "Booking",
    "BookingRuleSet",
    "CalendarToken",
    "Clearance",
    "ContractTemplate",
    "IdempotencyRecord",
    "ImportJob",
    "Instrument",
    "InstrumentCategory",
    "InstrumentRevision",
    "InstrumentSearchRow",
    "Invitation",
    "JobRun",
    "ListingPeriod",
    "LoginFailure",
    "Notification",
    "OperationReport",
    "OrgRelation",
    "Organization",
    "OrganizationBlock",
    "OutboxMessage",
    "Resource",
    "ResourceInstrument",
    "RevenueEntry",
    "RoleGrant",
    "ServiceContract",
    "ServiceDispute",
    "ServiceRating",
    "ServiceRecord",
    "StatisticsSnapshot",
    "StoredFile",
    "User",
    "VoucherApproval",
    "VoucherClaim",
    "VoucherClaimLine",
    "VoucherClaimSignal",
    "VoucherClaimedRecord",
    "VoucherEvidence",
    "VoucherPolicy",
    "VoucherYearTotal",
]
