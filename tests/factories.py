"""Test data builders that go through the real services, plus helpers to sign in and call the API."""

import itertools
import re
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select

from instrument_share.accounts import auth, organizations, tokens, users
from instrument_share.accounts.models import Organization, RoleGrant, User
from instrument_share.accounts.roles import OrgKind, Role
from instrument_share.core import clock
from instrument_share.core.uscc import check_character
from instrument_share.db import db
from instrument_share.mail.models import OutboxMessage

from .client import PASSWORD, csrf_from, english, login, post_form, sign_in, signed_in

_counter = itertools.count(1)


def valid_uscc(n: int | None = None, region: str = "320100", entity: str = "91") -> str:
    n = next(_counter) if n is None else n
    first17 = f"{entity}{region}MA{n:07d}"
    return first17 + check_character(first17)


class Operator:
    """Stands for the system administrator at the command line when building data."""

    id = None
    username = "test-setup"
    organization_id = None

    def has_role(self, *roles) -> bool:
        return Role.system_admin in roles


class Clock:
    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        clock.freeze(self.now)

    def move(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        clock.freeze(self.now)
        return self.now


class Factory:
    def __init__(self, app):
        self.app = app

    def org(self, kind: str = "enterprise", *, verified: bool = True, name: str | None = None,
            superior: Organization | None = None, **kwargs) -> Organization:
        with db.transaction():
            if kind == OrgKind.defence_unit and superior is None:
                superior = self.org("authority", verified=True)
            org = organizations.create_organization(
                actor=Operator(), name=name or f"测试单位{next(_counter)}", uscc=kwargs.pop("uscc", valid_uscc()),
                kind=kind, superior_id=superior.id if superior else None, **kwargs)
            if verified:
                organizations.verify_organization(actor=Operator(), org=org)
        return org

    def user(self, org: Organization | None = None, roles: tuple = (), *, username: str | None = None,
             password: str = PASSWORD, totp: bool = False, manager: bool = False) -> User:
        org = org or self.org()
        with db.transaction():
            user = users.create_user(actor=Operator(), username=username or f"user{next(_counter)}",
                                     password=password, email=f"u{next(_counter)}@example.cn",
                                     organization=db.session.merge(org))
            user.is_org_manager = manager
            for role in roles:
                db.session.add(RoleGrant(user=user, role=Role(role).value))
            if totp:
                user.totp_secret, user.totp_enabled_at = pyotp.random_base32(), clock.now_utc()
        db.session.refresh(user)
        return user

    def token(self, user: User) -> str:
        with db.transaction():
            _token, secret = tokens.create_token(db.session.merge(user), "test")
        return secret

    def bearer(self, user: User) -> dict:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def totp_code(self, user: User, *, at: datetime | None = None) -> str:
        return pyotp.TOTP(user.totp_secret).at(at or clock.now_utc())

    def outbox(self, recipient: str | None = None) -> list[OutboxMessage]:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if recipient:
            stmt = stmt.where(OutboxMessage.recipient == recipient)
        return list(db.session.scalars(stmt))

    def link_from_mail(self, recipient: str, path_fragment: str) -> str:
        """The path of the newest link to `path_fragment` mailed to `recipient`."""
        for message in reversed(self.outbox(recipient)):
            match = re.search(r"https?://[^/\s]+(/\S*" + re.escape(path_fragment) + r"\S*)", message.body)
            if match:
                return match.group(1)
        raise AssertionError(f"no mail with {path_fragment} to {recipient}")


__all__ = ["PASSWORD", "Clock", "Factory", "Operator", "auth", "csrf_from", "english", "login", "post_form", "sign_in",
           "signed_in", "valid_uscc"]
