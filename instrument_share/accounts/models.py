"""Organisations, their relations, users, role grants and the tokens that act for users."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..db import Base, UTCDateTime
from .roles import ADMIN_ROLES, TOTP_REQUIRED_ROLES, OrgKind, OrgStatus, Role


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("sme_annual_revenue_fen >= 0", name="revenue_not_negative"),
        CheckConstraint("sme_total_assets_fen >= 0", name="assets_not_negative"),
        CheckConstraint("sme_staff_count >= 0", name="staff_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    superior_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actual_controller: Mapped[str | None] = mapped_column(String(200))
    sme_staff_count: Mapped[int | None] = mapped_column(Integer)
    sme_annual_revenue_fen: Mapped[int | None] = mapped_column(BigInteger)
    sme_total_assets_fen: Mapped[int | None] = mapped_column(BigInteger)
    tech_sme_no: Mapped[str | None] = mapped_column(String(64))
    dishonest: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.pending, index=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    superior: Mapped["Organization | None"] = relationship(remote_side=[id])
    users: Mapped[list["User"]] = relationship(back_populates="organization", order_by="User.id")

    @property
    def is_verified(self) -> bool:
        return self.status == OrgStatus.verified

    @property
    def org_kind(self) -> OrgKind:
        return OrgKind(self.kind)


class OrgRelation(Base):
    """A tie between two organisations that the voucher rules treat as related parties."""

    __tablename__ = "org_relations"
    __table_args__ = (
        UniqueConstraint("organization_id", "other_id", "kind"),
        CheckConstraint("organization_id <> other_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    other_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    other: Mapped[Organization] = relationship(foreign_keys=[other_id])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # None for accounts made on the command line without an address: they get no mail and no reset link.
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    is_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_org_manager: Mapped[bool] = mapped_column(Boolean, default=False)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str | None] = mapped_column(String(8))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    organization: Mapped[Organization] = relationship(back_populates="users")
    role_grants: Mapped[list["RoleGrant"]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                          order_by="RoleGrant.role",
                                                          foreign_keys="RoleGrant.user_id")

    # Flask-Login protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def roles(self) -> set[Role]:
        return {Role(g.role) for g in self.role_grants}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    @property
    def needs_totp(self) -> bool:
        return bool(self.roles & TOTP_REQUIRED_ROLES)

    @property
    def has_totp(self) -> bool:
        return self.totp_enabled_at is not None


class RoleGrant(Base):
    __tablename__ = "role_grants"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    user: Mapped[User] = relationship(back_populates="role_grants", foreign_keys=[user_id])


class LoginFailure(Base):
    """One failed password or code from one source address; counted across all workers and servers for the lockout
    (accounts/lockout.py)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_user_at", "user_id", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class LoginLock(Base):
    """Sign-in to one account from one source address is refused until `locked_until` (accounts/lockout.py).

    The row stays after the lock ends, until the purge job: failures before its end never count toward the next lock.
    """

    __tablename__ = "login_locks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    remote_addr: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AccountToken(Base):
    """A single-use emailed link (email confirmation, password reset); only its hash is kept."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    organization: Mapped[Organization] = relationship()


class ApiToken(Base):
    """A personal access token for the JSON API; the secret is shown once and only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

