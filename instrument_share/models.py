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
from .files.models import StoredFile
from .mail.models import OutboxMessage
from .scheduling.models import JobRun

__all__ = [
    "AccountToken", "ApiToken", "AuditEntry", "Invitation", "JobRun", "LoginFailure", "OrgRelation", "Organization",
    "OutboxMessage", "RoleGrant", "StoredFile", "User",
]
