"""Every GET page renders for visitors and for each kind of user: 200, 302, 403 or 404, never a 5xx.

The list of pages comes from the URL map, so a new page is covered the day it is added.
"""

import re

import pytest
from flask import g

from instrument_share import create_app
from instrument_share.accounts import auth, users
from instrument_share.accounts.roles import Role
from instrument_share.db import db

from ..client import csrf_from, sign_in

PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
PERSONAS = [None, "system_admin", "security_admin", "audit_admin", "manager", "operator"]
ADMINS = {"system_admin", "security_admin", "audit_admin"}


def page_rules(app) -> list[tuple[str, str]]:
    return sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()
                  if "GET" in (rule.methods or set()) and not rule.rule.startswith(("/api/", "/static/"))
                  and rule.endpoint != "static")


PAGES = page_rules(create_app({"TESTING": True, "SECRET_KEY": "collect-only", "DATABASE_URL": "sqlite://"}))

# The foundation's pages and what each kind of visitor gets (None: not signed in). Later pages are checked by the
# general rules only (a status among 200/302/403/404; administration pages refuse non-administrators).
EXPECTED = {
    "main.home": dict.fromkeys(PERSONAS, 200),
    "auth.login": {None: 200} | dict.fromkeys(PERSONAS[1:], 302),
    "auth.register": dict.fromkeys(PERSONAS, 200),
    "auth.forgot_password": dict.fromkeys(PERSONAS, 200),
    "auth.totp": dict.fromkeys(PERSONAS, 302),
    "auth.totp_enrol": dict.fromkeys(PERSONAS, 302),
    "auth.confirm_email": dict.fromkeys(PERSONAS, 404),
    "auth.reset_password": dict.fromkeys(PERSONAS, 200),
    "auth.accept_invitation": dict.fromkeys(PERSONAS, 200),
    "profile.show": {None: 302} | dict.fromkeys(PERSONAS[1:], 200),
    "profile.enrol_totp": {None: 302} | dict.fromkeys(PERSONAS[1:], 200),
    "org.mine": {None: 302} | dict.fromkeys(PERSONAS[1:], 200),
    "org.public": dict.fromkeys(PERSONAS, 200),
    "admin.organizations_list": {None: 302, "manager": 403, "operator": 403, "security_admin": 403,
                                 "audit_admin": 403, "system_admin": 200},
    "admin.organization_detail": {None: 302, "manager": 403, "operator": 403, "security_admin": 403,
                                  "audit_admin": 403, "system_admin": 200},
    "admin.organization_new": {None: 302, "manager": 403, "operator": 403, "security_admin": 403,
                               "audit_admin": 403, "system_admin": 200},
    "admin.users_list": {None: 302, "manager": 403, "operator": 403, "security_admin": 200, "audit_admin": 403,
                         "system_admin": 200},
    "admin.user_detail": {None: 302, "manager": 403, "operator": 403, "security_admin": 200, "audit_admin": 403,
                          "system_admin": 200},
    "audit.entries": {None: 302, "manager": 403, "operator": 403, "security_admin": 403, "audit_admin": 200,
                      "system_admin": 403},
    "audit.verify": {None: 302, "manager": 403, "operator": 403, "security_admin": 403, "audit_admin": 200,
                     "system_admin": 403},
}


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
    people = {
        "system_admin": factory.user(commission, (Role.system_admin,), totp=True),
        "security_admin": factory.user(commission, (Role.security_admin,), totp=True),
        "audit_admin": factory.user(commission, (Role.audit_admin,), totp=True),
        "manager": factory.user(enterprise, (Role.sme_user,), manager=True),
        "colleague": factory.user(enterprise, (Role.sme_user,)),
        "operator": factory.user(university, (Role.provider_operator,), manager=True),
    }
    with db.transaction():
        manager = db.session.merge(people["manager"])
        invitation = users.invite(actor=manager, org=manager.organization, email="invited@example.cn",
                                  role="sme_user")
        auth.request_password_reset(people["colleague"].email)
    reset = factory.link_from_mail(people["colleague"].email, "password/reset/").rsplit("/", 1)[-1]
    return {"people": people, "enterprise": enterprise, "invitation": invitation.secret, "reset": reset}


def fill(rule: str, world: dict) -> str:
    values = {"org_id": world["enterprise"].id, "user_id": world["people"]["colleague"].id}

    def replace(match: re.Match) -> str:
        converter, args, name = match.group(1), match.group(2), match.group(3)
        if converter == "any":
            return args.split(",")[0].strip().strip("'\"")
        if name == "token":
            return {"/password/reset": world["reset"], "/invitations": world["invitation"]}.get(
                rule.rsplit("/", 1)[0], "no-such-token")
        if name in values:
            return str(values[name])
        return "1" if converter == "int" or name.endswith("_id") else "x"

    return PARAM.sub(replace, rule)


def is_admin_page(rule: str) -> bool:
    return rule.startswith(("/admin", "/audit"))


def test_the_page_list_is_the_url_map(app):
    assert page_rules(app) == PAGES
    assert {endpoint for _rule, endpoint in PAGES} >= set(EXPECTED)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p or "anonymous")
def test_every_page_renders_for_everyone(client, factory, world, persona):
    if persona:
        sign_in(client, factory, world["people"][persona])
    got = {}
    for rule, endpoint in PAGES:
        path = fill(rule, world)
        response = client.get(path)
        status = response.status_code
        got[endpoint] = status
        body = response.get_data(as_text=True)
        assert status in (200, 302, 403, 404), (path, status)
        assert "Traceback" not in body
        if status == 302:
            assert response.headers["Location"].startswith("/"), (path, response.headers["Location"])
        elif response.mimetype == "text/html":
            assert "<html" in body.lower(), path
        if is_admin_page(rule):
            if persona is None:
                assert status == 302 and response.headers["Location"].startswith("/login"), path
            elif persona not in ADMINS:
                assert status == 403, (path, persona, status)
        if persona and status == 200 and response.mimetype == "text/html":
            assert world["people"][persona].username in body, path  # the layout shows who is signed in
    expected = {endpoint: statuses[persona] for endpoint, statuses in EXPECTED.items()}
    assert {endpoint: got[endpoint] for endpoint in EXPECTED} == expected


def test_admin_pages_refuse_non_administrators_with_403_html(client, factory, world):
    sign_in(client, factory, world["people"]["manager"])
    admin_pages = [rule for rule, _endpoint in PAGES if is_admin_page(rule)]
    assert admin_pages
    for rule in admin_pages:
        response = client.get(fill(rule, world))
        assert response.status_code == 403 and response.mimetype == "text/html", rule


def test_a_verified_organisations_public_page_hides_the_private_profile(client, factory, world):
    with db.transaction():
        org = db.session.merge(world["enterprise"])
        org.actual_controller = "某某控股集团"
    page = client.get(f"/organizations/{world['enterprise'].id}").get_data(as_text=True)
    assert world["enterprise"].name in page
    assert "某某控股集团" not in page and world["enterprise"].uscc not in page
    sign_in(client, factory, world["people"]["manager"])
    assert "某某控股集团" in client.get(f"/organizations/{world['enterprise'].id}").get_data(as_text=True)


def test_the_manager_saves_the_profile_page_but_not_the_actual_controller(client, factory, world):
    sign_in(client, factory, world["people"]["manager"])
    page = client.get("/organization")
    assert page.status_code == 200
    form = {"prof-contact_name": "周八", "prof-contact_phone": "025-87654321", "prof-staff_count": "35",
            "prof-annual_revenue_yuan": "1234.50", "prof-actual_controller": "想改的控制人",
            "csrf_token": csrf_from(page.get_data(as_text=True))}
    response = client.post("/organization/profile", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.rollback()
    org = db.session.get(type(world["enterprise"]), world["enterprise"].id)
    db.session.refresh(org)
    assert (org.contact_name, org.sme_staff_count, org.sme_annual_revenue_fen) == ("周八", 35, 123450)
    assert org.actual_controller is None
