"""Who currently holds a role: the enabled accounts that workflows mail (audit anchors, account locks)."""

from sqlalchemy import select

from ..db import db
from .models import RoleGrant, User
from .roles import Role


def active_holders(role: Role, *, except_user_id: int | None = None) -> list[User]:
    """The enabled users holding `role`, oldest account first."""
    stmt = (select(User).join(RoleGrant, RoleGrant.user_id == User.id)
            .where(RoleGrant.role == role.value, User.is_disabled.is_(False)).order_by(User.id))
    if except_user_id is not None:
        stmt = stmt.where(User.id != except_user_id)
    return list(db.session.scalars(stmt))


def audit_admins() -> list[User]:
    return active_holders(Role.audit_admin)
