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

PASSWORD = "correct horse battery staple"
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


def login(client, username: str, password: str = PASSWORD, **kwargs):
    """Sign in through the login form (CSRF is enforced, so the token is read from the page)."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       **kwargs)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(client, path: str, data: dict | None = None, *, page: str = "/", **kwargs):
    """POST a form with a valid CSRF token taken from `page`."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data=(data or {}) | {"csrf_token": token}, **kwargs)


def english(client) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"


def signed_in(client) -> bool:
    """Whether the client's session cookie signs someone in (a protected page answers instead of redirecting)."""
    response = client.get("/profile/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.location.startswith("/login")
    return False


def sign_in(client, factory, user, password: str = PASSWORD):
    """Password and, for two-factor accounts, the code step; asserts that the person is in."""
    response = login(client, user.username, password)
    if response.status_code == 302 and response.location.startswith("/login/totp"):
        page = client.get("/login/totp")
        response = client.post("/login/totp", data={"code": factory.totp_code(user),
                                                    "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and not response.location.startswith("/login"), response.location
    return response


__all__ = ["PASSWORD", "Clock", "Factory", "Operator", "auth", "csrf_from", "english", "login", "post_form", "sign_in",
           "signed_in", "valid_uscc"]
