"""CSRF: every state-changing route outside the API refuses a missing or wrong token with 400 and writes nothing.

The list of routes comes from the URL map, so a new form route is covered the day it is added.
"""

import re

import pytest
from flask import g
from sqlalchemy import select, text

from instrument_share import create_app
from instrument_share.accounts import auth, users
from instrument_share.accounts.models import ApiToken
from instrument_share.accounts.roles import Role
from instrument_share.db import Base, db

from ..client import csrf_from, sign_in

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def state_changing_rules(app) -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) for every state-changing route outside /api/ and /static/."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/static/")) or rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) & STATE_CHANGING):
            found.append((rule.rule, method, rule.endpoint))
    return sorted(found)


def _collect() -> list[tuple[str, str, str]]:
    app = create_app({"TESTING": True, "SECRET_KEY": "collect-only", "DATABASE_URL": "sqlite://"})
    return state_changing_rules(app)


ROUTES = _collect()


@pytest.fixture(autouse=True)
def _one_request_one_context(app):
    """Each request starts with a fresh `g` and identity map, as it does in production (one context per request)."""

    def fresh_request_state():
        g.pop("_login_user", None)
        db.session.expire_all()

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_state)


@pytest.fixture
def world(factory):
    commission = factory.org("commission")
    enterprise = factory.org("enterprise")
    university = factory.org("university")
    pending = factory.org("enterprise", verified=False)
    people = {
        "system_admin": factory.user(commission, (Role.system_admin,), totp=True),
        "security_admin": factory.user(commission, (Role.security_admin,), totp=True),
        "manager": factory.user(enterprise, (Role.sme_user,), manager=True),
        "colleague": factory.user(enterprise, (Role.sme_user,)),
        "operator": factory.user(university, (Role.provider_operator,), manager=True),
    }
    for user in people.values():
        factory.token(user)
    with db.transaction():
        manager = db.session.merge(people["manager"])
        invitation = users.invite(actor=manager, org=manager.organization, email="invited@example.cn",
                                  role="sme_user")
        auth.request_password_reset(people["colleague"].email)
    reset_link = factory.link_from_mail(people["colleague"].email, "password/reset/")
    return {"people": people, "pending": pending, "university": university, "enterprise": enterprise,
            "invitation_token": invitation.secret, "reset_token": reset_link.rsplit("/", 1)[-1]}


def who_uses(rule: str, endpoint: str) -> str | None:
    """The kind of user allowed to use a route (None: a visitor who is not signed in)."""
    if endpoint.startswith("auth.") and endpoint != "auth.logout":
        return None
    if rule.startswith("/admin/users/") and "/roles" in rule:
        return "security_admin"
    if rule.startswith("/admin/"):
        return "system_admin"
    if endpoint.startswith(("org.", "profile.", "main.")) or endpoint == "auth.logout":
        return "manager"
    return "operator"  # later modules (catalogue, bookings): an instrument-owning unit's operator


def fill(rule: str, world: dict, who: str | None) -> str:
    people = world["people"]
    me = people.get(who) if who else None
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == me.id)) if me else 1
    values = {
        "org_id": world["pending"].id, "user_id": people["colleague"].id, "role": "sme_user", "action": "disable",
        "token_id": token_id, "organization_id": world["university"].id,
    }

    def replace(match: re.Match) -> str:
        converter, args, name = match.group(1), match.group(2), match.group(3)
        if converter == "any":  # one of the listed words; the first is as good as any
            return args.split(",")[0].strip().strip("'\"")
        if name == "token":
            return world["reset_token"] if rule.startswith("/password/reset") else world["invitation_token"]
        if name in values:
            return str(values[name])
        return "1" if converter == "int" or name.endswith("_id") else "x"

    return PARAM.sub(replace, rule)


def snapshot() -> dict[str, list]:
    """Every row of every table, so that any write shows."""
    db.session.rollback()
    rows = {}
    for table in Base.metadata.sorted_tables:
        result = db.session.execute(text(f'SELECT * FROM "{table.name}"'))  # noqa: S608  names from the metadata
        rows[table.name] = sorted(tuple(str(v) for v in row) for row in result)
    db.session.rollback()
    return rows


def test_the_route_list_is_the_url_map(app):
    live = state_changing_rules(app)
    assert len(ROUTES) == len(live)
    assert live == ROUTES
    assert len(ROUTES) >= 20  # the forms of the foundation alone


@pytest.mark.parametrize(("rule", "method", "endpoint"), ROUTES, ids=[f"{m} {r}" for r, m, _e in ROUTES])
def test_a_missing_or_wrong_csrf_token_is_refused_and_nothing_changes(app, client, factory, world, rule, method,
                                                                       endpoint):
    who = who_uses(rule, endpoint)
    if who:
        sign_in(client, factory, world["people"][who])
    path = fill(rule, world, who)
    other = app.test_client()
    foreign_token = csrf_from(other.get("/login").get_data(as_text=True))  # valid, but for another session
    base = {"reason": "x", "email": "someone@example.cn", "name": "测试", "lang": "en", "roles": "sme_user",
            "username": "someone", "password": "a long enough passphrase", "code": "123456"}
    before = snapshot()
    attempts = [
        ({}, {}),
        ({"csrf_token": "not-a-token"}, {}),
        ({"csrf_token": foreign_token}, {}),
        ({}, {"X-CSRFToken": "not-a-token"}),
    ]
    for extra, headers in attempts:
        response = client.open(path, method=method, data=base | extra,
                               headers={"Accept": "application/json"} | headers)
        assert response.status_code == 400, (path, extra, response.status_code)
        assert response.get_json()["error"] == "csrf_failed"
        html = client.open(path, method=method, data=base | extra, headers=headers)
        assert html.status_code == 400 and html.mimetype == "text/html"
        assert snapshot() == before, f"{method} {path} wrote to the database without a valid CSRF token"
    # The same request with this session's own token is not refused for CSRF: the refusal above was the token's.
    page = client.get("/profile/" if who else "/login")
    good = client.open(path, method=method, data=base | {"csrf_token": csrf_from(page.get_data(as_text=True))},
                       headers={"Accept": "application/json"})
    assert good.status_code < 500
    assert not (good.status_code == 400 and (good.get_json() or {}).get("error") == "csrf_failed")


def test_the_api_needs_no_csrf_token_because_cookies_do_not_authorise_it(client, factory, world):
    sign_in(client, factory, world["people"]["manager"])
    before = snapshot()
    response = client.post(f"/api/v1/organizations/{world['enterprise'].id}/invitations",
                           json={"email": "x@example.cn", "role": "sme_user"})
    assert response.status_code == 401  # the session cookie is ignored; no CSRF surface
    assert snapshot() == before
