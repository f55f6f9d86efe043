"""The accounts part of the JSON API (docs/api.md).

Tokens, /me, organisations, relations, invitations, users and roles, the error and list shapes, and an
authorisation matrix over every registered API operation for the usual kinds of caller.
"""

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from flask import g
from sqlalchemy import func, select

from instrument_share.accounts.models import ApiToken, Invitation, Organization, OrgRelation, RoleGrant, User
from instrument_share.accounts.roles import BUSINESS_ROLES_BY_KIND, OrgKind, Role
from instrument_share.api.core import OPERATIONS
from instrument_share.audit.models import AuditEntry
from instrument_share.core import uscc as uscc_rules
from instrument_share.core.clock import now_utc
from instrument_share.db import db

from ..client import call as api_call
from ..factories import PASSWORD, login, valid_uscc

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")
PUBLIC_ORG_KEYS = {"id", "name", "kind", "region_code", "status"}
PRIVATE_ORG_KEYS = {"sme", "actual_controller"}


# ---------------------------------------------------------------- helpers


def call(client, method: str, path: str, token: str | None = None, json=None, **kwargs):
    """This module passes the token in the fourth place."""
    return api_call(client, method, path, kwargs.pop("headers", None), json, token=token, **kwargs)


def basic(username: str, password: str) -> dict:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def assert_error(response, status: int, code: str | None = None, fields: set[str] | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"error", "message", "fields"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict)
    if code is not None:
        assert body["error"] == code, body
    if fields is not None:
        assert fields <= set(body["fields"]), body
    return body


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def org_body(kind: str = "enterprise", **extra) -> dict:
    n = next(_numbers)
    body = {"name": f"南京测试{kind}{n}", "uscc": valid_uscc(), "kind": kind}
    if extra.pop("with_first_user", True) and kind == "enterprise":
        body["first_user"] = {"username": f"first{n}", "password": PASSWORD, "email": f"first{n}@example.cn"}
    return body | extra


def _counter():
    n = 0
    while True:
        n += 1
        yield n


_numbers = _counter()


@dataclass
class World:
    """Organisations and people most tests need, each with a bearer token."""

    commission: Organization
    enterprise: Organization
    university: Organization
    manager: User
    sme: User
    colleague: User
    operator: User
    system_admin: User
    security_admin: User
    audit_admin: User
    officer: User
    auditor: User
    tokens: dict


@pytest.fixture
def world(factory) -> World:
    commission = factory.org("commission", name="南京市科学技术局")
    enterprise = factory.org("enterprise", name="南京示例科技有限公司")
    university = factory.org("university", name="示例大学")
    people = {
        "manager": factory.user(enterprise, (Role.sme_user,), manager=True),
        "sme": factory.user(enterprise, (Role.sme_user,)),
        "colleague": factory.user(enterprise, (Role.sme_user,)),
        "operator": factory.user(university, (Role.provider_operator,), manager=True),
        "system_admin": factory.user(commission, (Role.system_admin,), totp=True),
        "security_admin": factory.user(commission, (Role.security_admin,), totp=True),
        "audit_admin": factory.user(commission, (Role.audit_admin,), totp=True),
        "officer": factory.user(commission, (Role.commission_officer,), totp=True),
        "auditor": factory.user(commission, (Role.commission_auditor,), totp=True),
    }
    tokens = {name: factory.token(user) for name, user in people.items()}
    return World(commission=commission, enterprise=enterprise, university=university, tokens=tokens, **people)


@pytest.fixture(autouse=True)
def _one_request_one_context(app):
    """The conftest app fixture keeps one app context open, so `g` and the session would outlive a request.

    In production every request has its own; emulate that so that one client's signed-in user (cached by
    Flask-Login in `g`) or a stale identity map never leaks into the next request.
    """

    def fresh_request_state():
        g.pop("_login_user", None)
        db.session.expire_all()

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_state)


def reload(model, pk):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, pk)


# ---------------------------------------------------------------- tokens


def test_basic_credentials_give_a_201_token_that_authorises(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    response = call(client, "POST", "/tokens", headers=basic(user.username, PASSWORD))
    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    assert ISO_WITH_OFFSET.match(body["expires_at"])
    assert body["expires_at"].endswith("+08:00")  # shown in the platform's time zone, stored in UTC
    assert datetime.fromisoformat(body["expires_at"]) > now_utc()
    me = call(client, "GET", "/me", body["token"])
    assert me.status_code == 200
    assert me.get_json()["user"]["id"] == user.id
    # Only a hash is stored.
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert body["token"] not in stored


def test_a_token_request_may_carry_a_json_body_with_a_name(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    response = call(client, "POST", "/tokens", json={"name": "省平台对接"}, headers=basic(user.username, PASSWORD))
    assert response.status_code == 201
    listed = call(client, "GET", "/tokens", response.get_json()["token"]).get_json()
    assert [t["name"] for t in listed["items"]] == ["省平台对接"]
    assert listed["total"] == 1 and listed["page"] == 1


@pytest.mark.parametrize("password", ["wrong password here", "", PASSWORD.upper()])
def test_a_wrong_password_is_401_and_no_token_is_made(client, factory, password):
    user = factory.user(roles=(Role.sme_user,))
    response = call(client, "POST", "/tokens", headers=basic(user.username, password))
    assert_error(response, 401)
    assert "token" not in response.get_json()
    assert count(ApiToken) == 0


def test_an_unknown_user_and_missing_credentials_are_401(client):
    assert_error(call(client, "POST", "/tokens", headers=basic("nobody-here", PASSWORD)), 401)
    assert_error(call(client, "POST", "/tokens"), 401)
    assert_error(call(client, "POST", "/tokens", headers={"Authorization": "Basic !!!notbase64"}), 401)


def test_two_factor_accounts_need_the_code_in_the_body(client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,), totp=True)
    assert_error(call(client, "POST", "/tokens", headers=basic(user.username, PASSWORD)), 401)
    assert_error(call(client, "POST", "/tokens", json={"totp": "000000" if factory.totp_code(user) != "000000"
                                                        else "111111"},
                      headers=basic(user.username, PASSWORD)), 401)
    good = call(client, "POST", "/tokens", json={"totp": factory.totp_code(user)},
                headers=basic(user.username, PASSWORD))
    assert good.status_code == 201, good.get_json()


def test_an_account_that_must_use_two_factor_but_has_not_enrolled_gets_403(client, factory):
    org = factory.org("commission")
    user = factory.user(org, (Role.commission_officer,))
    response = call(client, "POST", "/tokens", headers=basic(user.username, PASSWORD))
    assert_error(response, 403, "totp_enrolment_required")
    assert count(ApiToken) == 0


def test_a_session_cookie_never_authorises_an_api_call(client, factory):
    admin = factory.user(factory.org("commission"), (Role.system_admin,))
    user = factory.user(roles=(Role.sme_user,))
    assert login(client, user.username).status_code == 302
    assert client.get("/profile/").status_code == 200  # the session works for pages
    assert_error(call(client, "GET", "/me"), 401)
    assert_error(call(client, "GET", "/tokens"), 401)
    # Even a system administrator's session does not let a request act as them.
    client2 = client.application.test_client()
    with client2.session_transaction() as sess:
        sess["_user_id"] = admin.get_id()
        sess["login_at"] = sess["seen"] = 2**40
    assert_error(call(client2, "POST", "/organizations", json=org_body("university")), 403)
    assert_error(call(client2, "POST", f"/organizations/{admin.organization_id}/suspend"), 401)


@pytest.mark.parametrize("header", ["Bearer ", "Bearer isk_not-a-real-token", "Bearer something-else",
                                    "Token abc", "bearer  isk_"])
def test_a_bad_bearer_token_is_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert_error(response, 401)


def test_a_revoked_token_is_401(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    token = factory.token(user)
    other = factory.token(user)
    token_id = call(client, "GET", "/tokens", token).get_json()["items"][0]["id"]
    response = call(client, "DELETE", f"/tokens/{token_id}", token)
    assert response.status_code == 200
    assert_error(call(client, "GET", "/me", token), 401, "invalid_token")
    assert call(client, "GET", "/me", other).status_code == 200
    # Revoking it again, or someone else's token, is 404.
    assert_error(call(client, "DELETE", f"/tokens/{token_id}", other), 404)
    stranger = factory.token(factory.user(roles=(Role.sme_user,)))
    other_id = call(client, "GET", "/tokens", other).get_json()["items"][0]["id"]
    assert_error(call(client, "DELETE", f"/tokens/{other_id}", stranger), 404)
    assert call(client, "GET", "/me", other).status_code == 200


def test_an_expired_token_is_401(client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    token = factory.token(user)
    assert call(client, "GET", "/me", token).status_code == 200
    frozen_clock.move(days=client.application.config["API_TOKEN_DAYS"], seconds=1)
    assert_error(call(client, "GET", "/me", token), 401)


def test_disabling_an_account_kills_its_tokens_for_good(client, world):
    token = world.tokens["colleague"]
    assert call(client, "GET", "/me", token).status_code == 200
    assert call(client, "POST", f"/users/{world.colleague.id}/disable", world.tokens["manager"]).status_code == 200
    assert_error(call(client, "GET", "/me", token), 401)
    assert call(client, "POST", f"/users/{world.colleague.id}/enable", world.tokens["manager"]).status_code == 200
    assert_error(call(client, "GET", "/me", token), 401)


def test_me_returns_the_user_the_organisation_and_the_roles(client, world):
    body = call(client, "GET", "/me", world.tokens["manager"]).get_json()
    assert body["user"]["id"] == world.manager.id
    assert body["user"]["username"] == world.manager.username
    assert "password_hash" not in body["user"] and "totp_secret" not in body["user"]
    assert body["organization"]["id"] == world.enterprise.id
    assert body["organization"]["kind"] == "enterprise"
    assert set(body["organization"]) >= PRIVATE_ORG_KEYS  # a member reads its own organisation's profile
    assert body["roles"] == ["sme_user"]
    admin = call(client, "GET", "/me", world.tokens["audit_admin"]).get_json()
    assert admin["roles"] == ["audit_admin"]
    assert admin["organization"]["id"] == world.commission.id


# ---------------------------------------------------------------- organisations: create


def test_an_enterprise_registers_itself_with_its_first_user(client, factory):
    body = org_body("enterprise", sme={"staff_count": 42, "annual_revenue_fen": 1_234_567_800,
                                        "total_assets_fen": 9_000_000_000, "tech_sme_no": "202632010500001"})
    response = call(client, "POST", "/organizations", json=body)
    assert response.status_code == 201, response.get_json()
    org = response.get_json()
    assert org["status"] == "pending"
    assert org["kind"] == "enterprise"
    assert org["name"] == body["name"]
    assert isinstance(org["id"], int)
    assert org["region_code"] == body["uscc"][2:8]
    for key in ("staff_count", "annual_revenue_fen", "total_assets_fen"):
        assert type(org["sme"][key]) is int
    assert org["sme"]["annual_revenue_fen"] == 1_234_567_800
    user = db.session.scalar(select(User).where(User.username == body["first_user"]["username"]))
    assert user.organization_id == org["id"]
    assert user.email_confirmed_at is None and user.roles == set() and not user.is_org_manager
    assert any(m.recipient == body["first_user"]["email"] for m in factory.outbox())


@pytest.mark.parametrize("kind", ["university", "research_institute", "key_lab", "defence_unit", "authority",
                                  "commission"])
def test_self_registration_is_for_enterprises_only(client, kind):
    body = org_body(kind) | {"first_user": {"username": "someone1", "password": PASSWORD,
                                            "email": "someone@example.cn"}}
    assert_error(call(client, "POST", "/organizations", json=body), 403)
    assert count(Organization) == 0 and count(User) == 0


def test_self_registration_needs_the_first_user(client):
    assert_error(call(client, "POST", "/organizations", json=org_body("enterprise", with_first_user=False)), 403)
    assert count(Organization) == 0


@pytest.mark.parametrize("role", ["sme", "operator", "security_admin", "audit_admin", "officer"])
def test_only_the_system_administrator_creates_organisations_with_a_token(client, world, role):
    before = count(Organization)
    assert_error(call(client, "POST", "/organizations", world.tokens[role], json=org_body("university")), 403)
    assert_error(call(client, "POST", "/organizations", world.tokens[role], json=org_body("enterprise")), 403)
    assert count(Organization) == before


@pytest.mark.parametrize("kind", [k.value for k in OrgKind if k != OrgKind.defence_unit])
def test_the_system_administrator_creates_any_kind(client, world, kind):
    body = org_body(kind, with_first_user=False, actual_controller="张三",
                    contact_name="李四", contact_phone="025-12345678")
    response = call(client, "POST", "/organizations", world.tokens["system_admin"], json=body)
    assert response.status_code == 201, response.get_json()
    org = response.get_json()
    assert org["kind"] == kind and org["status"] == "pending"
    assert org["actual_controller"] == "张三"
    assert reload(Organization, org["id"]).contact_phone == "025-12345678"


def test_a_defence_unit_needs_a_superior_authority(client, world, factory):
    token = world.tokens["system_admin"]
    assert_error(call(client, "POST", "/organizations", token, json=org_body("defence_unit")), 422,
                 fields={"superior_id"})
    assert_error(call(client, "POST", "/organizations", token,
                      json=org_body("defence_unit", superior_id=world.university.id)), 422, fields={"superior_id"})
    assert_error(call(client, "POST", "/organizations", token,
                      json=org_body("defence_unit", superior_id=10**6)), 422, fields={"superior_id"})
    authority = factory.org("authority")
    ok = call(client, "POST", "/organizations", token, json=org_body("defence_unit", superior_id=authority.id))
    assert ok.status_code == 201
    assert ok.get_json()["superior_id"] == authority.id
    # Only defence units have a superior.
    assert_error(call(client, "POST", "/organizations", token,
                      json=org_body("university", superior_id=authority.id)), 422, fields={"superior_id"})


def test_region_code_defaults_to_uscc_characters_3_to_8_and_can_be_given(client, world):
    token = world.tokens["system_admin"]
    uscc = valid_uscc(region="320106")
    org = call(client, "POST", "/organizations", token,
               json={"name": "鼓楼某厂", "uscc": uscc, "kind": "enterprise"}).get_json()
    assert org["region_code"] == "320106"
    org2 = call(client, "POST", "/organizations", token,
                json=org_body("university", region_code="320113")).get_json()
    assert org2["region_code"] == "320113"
    for bad in ("3201", "32011A", "3201130", " "):
        response = call(client, "POST", "/organizations", token, json=org_body("university", region_code=bad))
        if bad.strip():
            assert_error(response, 422, fields={"region_code"})
        else:
            assert response.status_code == 201  # blank means the default


@pytest.mark.parametrize(("bad", "words"), [
    ("91320100MA1234567", "18"),
    ("91320100MA12345678X", "18"),
    ("91320100MA1234567I", "I"),
    ("9132010OMA12345678", "O"),
    ("", "18"),
])
def test_a_bad_uscc_is_422_naming_the_problem(client, world, bad, words):
    body = assert_error(call(client, "POST", "/organizations", world.tokens["system_admin"],
                             json=org_body("university", uscc=bad)), 422, fields={"uscc"})
    assert words in body["fields"]["uscc"]


def test_a_wrong_check_character_names_the_expected_one(client, world):
    good = valid_uscc()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    body = assert_error(call(client, "POST", "/organizations", world.tokens["system_admin"],
                             json=org_body("university", uscc=wrong)), 422, fields={"uscc"})
    assert uscc_rules.check_character(good[:17]) in body["fields"]["uscc"]


def test_a_duplicate_uscc_is_409(client, world):
    token = world.tokens["system_admin"]
    first = org_body("university")
    assert call(client, "POST", "/organizations", token, json=first).status_code == 201
    again = org_body("key_lab", uscc=first["uscc"].lower())
    assert_error(call(client, "POST", "/organizations", token, json=again), 409, fields={"uscc"})
    # Self-registration with a taken code is refused the same way, and no user is left behind.
    users_before = count(User)
    assert_error(call(client, "POST", "/organizations", json=org_body("enterprise", uscc=first["uscc"])), 409)
    assert count(User) == users_before


def test_a_refused_registration_leaves_nothing_behind(client):
    body = org_body("enterprise")
    body["first_user"]["password"] = "short"
    assert_error(call(client, "POST", "/organizations", json=body), 422, fields={"first_user.password"})
    assert count(Organization) == 0 and count(User) == 0
    taken = org_body("enterprise")
    assert call(client, "POST", "/organizations", json=taken).status_code == 201
    clash = org_body("enterprise")
    clash["first_user"]["username"] = taken["first_user"]["username"]
    assert_error(call(client, "POST", "/organizations", json=clash), 409, fields={"first_user.username"})
    assert count(Organization) == 1


def test_an_sme_profile_belongs_to_enterprises_only(client, world):
    response = call(client, "POST", "/organizations", world.tokens["system_admin"],
                    json=org_body("university", sme={"staff_count": 3}))
    assert_error(response, 422, fields={"sme"})


# ---------------------------------------------------------------- organisations: read


def _pending_enterprise(client) -> tuple[dict, dict]:
    body = org_body("enterprise", actual_controller="王五", sme={"staff_count": 7})
    response = call(client, "POST", "/organizations", json=body)
    assert response.status_code == 201
    return response.get_json(), body


def test_verified_organisations_are_public_with_name_kind_region_status_only(client, world):
    for token in (None, world.tokens["operator"], world.tokens["security_admin"], world.tokens["audit_admin"]):
        response = call(client, "GET", f"/organizations/{world.enterprise.id}", token)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == PUBLIC_ORG_KEYS, body
        assert body["name"] == world.enterprise.name and body["status"] == "verified"


@pytest.mark.parametrize("reader", ["manager", "sme", "system_admin", "officer", "auditor"])
def test_the_private_profile_is_for_members_the_system_administrator_and_the_commission(client, world, reader):
    with db.transaction():
        org = db.session.merge(world.enterprise)
        org.actual_controller, org.sme_staff_count = "赵六", 12
    body = call(client, "GET", f"/organizations/{world.enterprise.id}", world.tokens[reader]).get_json()
    assert body["actual_controller"] == "赵六"
    assert body["sme"]["staff_count"] == 12


def test_a_pending_organisation_is_404_to_outsiders(client, world):
    org, _body = _pending_enterprise(client)
    for token in (None, world.tokens["operator"], world.tokens["manager"], world.tokens["security_admin"],
                  world.tokens["audit_admin"]):
        assert_error(call(client, "GET", f"/organizations/{org['id']}", token), 404)
    for token in (world.tokens["system_admin"], world.tokens["officer"]):
        body = call(client, "GET", f"/organizations/{org['id']}", token).get_json()
        assert body["status"] == "pending" and body["actual_controller"] == "王五"
    assert_error(call(client, "GET", "/organizations/999999"), 404)


def test_the_organisation_list_is_paginated_and_hides_pending_ones(client, world, factory):
    pending, _body = _pending_enterprise(client)
    public = call(client, "GET", "/organizations").get_json()
    assert set(public) == {"items", "page", "per_page", "total"}
    assert public["page"] == 1 and public["per_page"] == 20
    assert pending["id"] not in {o["id"] for o in public["items"]}
    assert public["total"] == 3
    assert all(set(o) == PUBLIC_ORG_KEYS for o in public["items"])
    admin = call(client, "GET", "/organizations", world.tokens["system_admin"]).get_json()
    assert pending["id"] in {o["id"] for o in admin["items"]}
    for _ in range(3):
        factory.org("key_lab")
    page2 = call(client, "GET", "/organizations?per_page=2&page=2").get_json()
    assert page2["page"] == 2 and page2["per_page"] == 2 and page2["total"] == 6
    assert len(page2["items"]) == 2
    assert call(client, "GET", "/organizations?per_page=100").status_code == 200


@pytest.mark.parametrize("query", ["per_page=101", "per_page=0", "page=0", "per_page=abc", "page=-1",
                                   "per_page=99999999999999999999999"])
def test_bad_list_parameters_are_422(client, world, query):
    for path in ("/organizations", "/users", "/tokens", f"/organizations/{world.enterprise.id}/relations",
                 f"/organizations/{world.enterprise.id}/invitations"):
        token = world.tokens["manager"]
        body = assert_error(call(client, "GET", f"{path}?{query}", token), 422)
        assert set(body["fields"]) & {"page", "per_page"}, path


def test_every_list_endpoint_has_the_list_shape(client, world):
    cases = [("/organizations", "system_admin"), ("/users", "security_admin"), ("/tokens", "sme"),
             (f"/organizations/{world.enterprise.id}/relations", "manager"),
             (f"/organizations/{world.enterprise.id}/invitations", "manager"), ("/audit/entries", "audit_admin")]
    for path, who in cases:
        body = call(client, "GET", path + "?per_page=1", world.tokens[who]).get_json()
        assert set(body) >= {"items", "page", "per_page", "total"}, path
        assert body["per_page"] == 1 and body["page"] == 1 and isinstance(body["total"], int), path
        assert len(body["items"]) <= 1


# ---------------------------------------------------------------- organisations: change


def test_the_manager_changes_contact_data_and_the_sme_profile(client, world):
    token = world.tokens["manager"]
    response = call(client, "PATCH", f"/organizations/{world.enterprise.id}", token, json={
        "contact_name": "钱七", "contact_phone": "13800000000", "contact_email": "qian@example.cn",
        "address": "南京市玄武区珠江路1号",
        "sme": {"staff_count": 120, "annual_revenue_fen": 5_000_000_000, "total_assets_fen": 8_000_000_000,
                "tech_sme_no": "2026320102A0001"}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["sme"] == {"staff_count": 120, "annual_revenue_fen": 5_000_000_000,
                           "total_assets_fen": 8_000_000_000, "tech_sme_no": "2026320102A0001"}
    org = reload(Organization, world.enterprise.id)
    assert (org.contact_name, org.address, org.sme_staff_count) == ("钱七", "南京市玄武区珠江路1号", 120)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "org.updated")) == 1


def test_a_partial_sme_patch_keeps_the_other_figures(client, world):
    token = world.tokens["manager"]
    path = f"/organizations/{world.enterprise.id}"
    call(client, "PATCH", path, token, json={"sme": {"staff_count": 50, "annual_revenue_fen": 100,
                                                     "total_assets_fen": 200, "tech_sme_no": "X1"}})
    body = call(client, "PATCH", path, token, json={"sme": {"staff_count": 51}}).get_json()
    assert body["sme"] == {"staff_count": 51, "annual_revenue_fen": 100, "total_assets_fen": 200,
                           "tech_sme_no": "X1"}


@pytest.mark.parametrize("field", [{"dishonest": True}, {"name": "改名"}, {"region_code": "320200"},
                                   {"actual_controller": "别人"}])
def test_the_manager_may_not_change_other_fields_and_they_are_named(client, world, field):
    before = reload(Organization, world.enterprise.id)
    snapshot = (before.name, before.region_code, before.dishonest, before.actual_controller, before.contact_name)
    body = assert_error(call(client, "PATCH", f"/organizations/{world.enterprise.id}", world.tokens["manager"],
                             json=field | {"contact_name": "x"}), 403)
    assert set(body["fields"]) == set(field)
    after = reload(Organization, world.enterprise.id)
    assert (after.name, after.region_code, after.dishonest, after.actual_controller, after.contact_name) == snapshot


def test_a_member_who_is_not_the_manager_and_outsiders_cannot_patch(client, world):
    path = f"/organizations/{world.enterprise.id}"
    assert_error(call(client, "PATCH", path, world.tokens["sme"], json={"contact_name": "x"}), 403)
    assert_error(call(client, "PATCH", path, world.tokens["operator"], json={"contact_name": "x"}), 403)
    assert_error(call(client, "PATCH", path, None, json={"contact_name": "x"}), 401)
    assert_error(call(client, "PATCH", path, world.tokens["security_admin"], json={"contact_name": "x"}), 403)
    assert reload(Organization, world.enterprise.id).contact_name is None


def test_the_commission_officer_sets_the_dishonesty_flag_only(client, world):
    path = f"/organizations/{world.enterprise.id}"
    token = world.tokens["officer"]
    response = call(client, "PATCH", path, token, json={"dishonest": True})
    assert response.status_code == 200 and response.get_json()["dishonest"] is True
    assert reload(Organization, world.enterprise.id).dishonest is True
    assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)) \
        == "org.dishonest_flag"
    body = assert_error(call(client, "PATCH", path, token, json={"contact_name": "x", "dishonest": False}), 403)
    assert set(body["fields"]) == {"contact_name"}
    assert reload(Organization, world.enterprise.id).dishonest is True
    for who in ("auditor", "system_admin", "manager"):
        assert_error(call(client, "PATCH", path, world.tokens[who], json={"dishonest": False}), 403)
    assert reload(Organization, world.enterprise.id).dishonest is True
    assert call(client, "PATCH", path, token, json={"dishonest": False}).get_json()["dishonest"] is False


def test_patch_values_are_checked(client, world):
    path = f"/organizations/{world.enterprise.id}"
    token = world.tokens["manager"]
    assert_error(call(client, "PATCH", path, token, json={"sme": {"staff_count": -1}}), 422,
                 fields={"sme.staff_count"})
    assert_error(call(client, "PATCH", path, token, json={"sme": {"annual_revenue_fen": 12.5}}), 422,
                 fields={"sme.annual_revenue_fen"})
    assert_error(call(client, "PATCH", path, token, json={"sme": {"annual_revenue_fen": "100"}}), 422,
                 fields={"sme.annual_revenue_fen"})
    assert_error(call(client, "PATCH", path, token, json={"contact_phone": "1" * 300}), 422,
                 fields={"contact_phone"})
    assert_error(call(client, "PATCH", path, token, json={"unknown": 1}), 422, fields={"unknown"})
    assert_error(call(client, "PATCH", path, world.tokens["officer"], json={"dishonest": "yes"}), 422,
                 fields={"dishonest"})
    assert_error(call(client, "PATCH", "/organizations/987654", token, json={"contact_name": "x"}), 404)


# ---------------------------------------------------------------- verify and suspend


def _confirm_first_user(org_id: int) -> User:
    with db.transaction():
        user = db.session.scalar(select(User).where(User.organization_id == org_id))
        user.email_confirmed_at = now_utc()
    return user


def test_verifying_makes_the_first_user_manager_and_gives_an_enterprise_sme_user(client, world):
    org, _body = _pending_enterprise(client)
    first = _confirm_first_user(org["id"])
    for who in ("manager", "operator", "security_admin", "audit_admin", "officer"):
        assert_error(call(client, "POST", f"/organizations/{org['id']}/verify", world.tokens[who]), 403)
    assert_error(call(client, "POST", f"/organizations/{org['id']}/verify"), 401)
    response = call(client, "POST", f"/organizations/{org['id']}/verify", world.tokens["system_admin"])
    assert response.status_code == 200
    assert response.get_json()["status"] == "verified"
    first = reload(User, first.id)
    assert first.is_org_manager and first.roles == {Role.sme_user}
    # Now the organisation is public.
    assert call(client, "GET", f"/organizations/{org['id']}").status_code == 200
    # Verifying twice is a state conflict.
    assert_error(call(client, "POST", f"/organizations/{org['id']}/verify", world.tokens["system_admin"]), 409,
                 "invalid_state")
    assert_error(call(client, "POST", "/organizations/424242/verify", world.tokens["system_admin"]), 404)


def test_an_enterprise_is_not_verified_before_its_first_user_confirmed_the_email(client, world):
    org, _body = _pending_enterprise(client)
    response = call(client, "POST", f"/organizations/{org['id']}/verify", world.tokens["system_admin"])
    assert_error(response, 409, "email_not_confirmed")
    assert reload(Organization, org["id"]).status == "pending"


def test_verifying_a_university_makes_the_first_user_manager_without_roles(client, world):
    token = world.tokens["system_admin"]
    org = call(client, "POST", "/organizations", token, json=org_body("university")).get_json()
    user = call(client, "POST", "/users", token, json={"username": "uni-first", "password": PASSWORD,
                                                        "email": "first@uni.example.cn",
                                                        "organization_id": org["id"]}).get_json()
    assert call(client, "POST", f"/organizations/{org['id']}/verify", token).status_code == 200
    first = reload(User, user["id"])
    assert first.is_org_manager and first.roles == set()


def test_suspending_ends_every_members_sessions_and_tokens(client, world, factory):
    member_client = client.application.test_client()
    assert login(member_client, world.sme.username).status_code == 302
    assert member_client.get("/profile/").status_code == 200
    tokens_before = [world.tokens["sme"], world.tokens["manager"]]
    for who in ("manager", "operator", "security_admin", "audit_admin", "officer"):
        assert_error(call(client, "POST", f"/organizations/{world.enterprise.id}/suspend", world.tokens[who]), 403)
    response = call(client, "POST", f"/organizations/{world.enterprise.id}/suspend", world.tokens["system_admin"],
                    json={"reason": "营业执照吊销"})
    assert response.status_code == 200 and response.get_json()["status"] == "suspended"
    assert member_client.get("/profile/").status_code == 302  # signed out
    for token in tokens_before:
        assert_error(call(client, "GET", "/me", token), 401)
    assert_error(call(client, "POST", f"/organizations/{world.enterprise.id}/suspend",
                      world.tokens["system_admin"]), 409, "invalid_state")
    # Reinstating the organisation does not bring old tokens back.
    assert call(client, "POST", f"/organizations/{world.enterprise.id}/verify",
                world.tokens["system_admin"]).status_code == 200
    for token in tokens_before:
        assert_error(call(client, "GET", "/me", token), 401)
    assert call(client, "GET", "/me", factory.token(reload(User, world.sme.id))).status_code == 200
    # A suspended organisation cannot sign in for a token either.
    call(client, "POST", f"/organizations/{world.enterprise.id}/suspend", world.tokens["system_admin"])
    assert_error(call(client, "POST", "/tokens", headers=basic(world.sme.username, PASSWORD)), 403)


# ---------------------------------------------------------------- relations


RELATION_KINDS = ["shareholding", "subsidiary", "co_building", "same_controller", "same_legal_rep"]


@pytest.mark.parametrize("kind", RELATION_KINDS)
def test_the_system_administrator_registers_relations(client, world, kind):
    token = world.tokens["system_admin"]
    path = f"/organizations/{world.enterprise.id}/relations"
    response = call(client, "POST", path, token, json={"other_id": world.university.id, "kind": kind})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["organization_id"], body["other_id"], body["kind"]) == (world.enterprise.id, world.university.id,
                                                                         kind)
    assert_error(call(client, "POST", path, token, json={"other_id": world.university.id, "kind": kind}), 409)
    assert count(OrgRelation) == 1
    listed = call(client, "GET", path, world.tokens["manager"]).get_json()
    assert [r["id"] for r in listed["items"]] == [body["id"]] and listed["total"] == 1
    # The tie shows from the other side as well.
    other = call(client, "GET", f"/organizations/{world.university.id}/relations", world.tokens["operator"])
    assert [r["id"] for r in other.get_json()["items"]] == [body["id"]]


def test_relation_input_is_checked(client, world):
    token = world.tokens["system_admin"]
    path = f"/organizations/{world.enterprise.id}/relations"
    assert_error(call(client, "POST", path, token, json={"other_id": world.university.id, "kind": "friends"}), 422,
                 fields={"kind"})
    assert_error(call(client, "POST", path, token, json={"other_id": 777777, "kind": "subsidiary"}), 422,
                 fields={"other_id"})
    assert_error(call(client, "POST", path, token, json={"other_id": world.enterprise.id, "kind": "subsidiary"}),
                 422, fields={"other_id"})
    assert_error(call(client, "POST", path, token, json={"other_id": str(world.university.id),
                                                         "kind": "subsidiary"}), 422, fields={"other_id"})
    assert_error(call(client, "POST", "/organizations/777777/relations", token,
                      json={"other_id": world.university.id, "kind": "subsidiary"}), 404)
    for who in ("manager", "officer", "security_admin"):
        assert_error(call(client, "POST", path, world.tokens[who],
                          json={"other_id": world.university.id, "kind": "subsidiary"}), 403)
    assert count(OrgRelation) == 0


def test_relations_are_read_by_members_the_system_administrator_and_the_commission(client, world):
    path = f"/organizations/{world.enterprise.id}/relations"
    call(client, "POST", path, world.tokens["system_admin"], json={"other_id": world.university.id,
                                                                   "kind": "same_controller"})
    for who in ("manager", "sme", "system_admin", "officer", "auditor"):
        assert call(client, "GET", path, world.tokens[who]).get_json()["total"] == 1, who
    for who in ("security_admin", "audit_admin"):
        response = call(client, "GET", path, world.tokens[who])
        assert response.status_code in (403, 404)
        assert "items" not in response.get_json()
    assert_error(call(client, "GET", path), 401)


# ---------------------------------------------------------------- invitations


@pytest.mark.parametrize("kind", [k.value for k in OrgKind])
def test_the_manager_invites_with_the_roles_allowed_for_the_kind(client, factory, kind):
    org = factory.org(kind)
    manager = factory.user(org, manager=True)
    token = factory.token(manager)
    allowed = {r.value for r in BUSINESS_ROLES_BY_KIND[OrgKind(kind)]}
    for role in Role:
        response = call(client, "POST", f"/organizations/{org.id}/invitations", token,
                        json={"email": f"{role.value}@example.cn", "role": role.value})
        if role.value in allowed:
            assert response.status_code == 201, (kind, role, response.get_json())
            body = response.get_json()
            assert body["role"] == role.value and body["email"] == f"{role.value}@example.cn"
            assert ISO_WITH_OFFSET.match(body["expires_at"])
        else:
            assert_error(response, 422, fields={"role"})
    assert count(Invitation) == len(allowed)
    assert {m.recipient for m in factory.outbox()} >= {f"{r}@example.cn" for r in allowed}


def test_only_the_manager_invites(client, world):
    path = f"/organizations/{world.enterprise.id}/invitations"
    for who in ("sme", "operator", "system_admin", "security_admin", "officer"):
        response = call(client, "POST", path, world.tokens[who], json={"email": "x@example.cn", "role": "sme_user"})
        assert response.status_code == 403, who
    assert_error(call(client, "POST", path, json={"email": "x@example.cn", "role": "sme_user"}), 401)
    assert_error(call(client, "POST", path, world.tokens["manager"], json={"email": "not-an-email",
                                                                           "role": "sme_user"}), 422,
                 fields={"email"})
    assert_error(call(client, "POST", path, world.tokens["manager"], json={"email": "x@example.cn",
                                                                           "role": "wizard"}), 422, fields={"role"})
    assert count(Invitation) == 0


def test_an_invitation_is_accepted_with_the_role(client, world, factory):
    response = call(client, "POST", f"/organizations/{world.enterprise.id}/invitations", world.tokens["manager"],
                    json={"email": "new.colleague@example.cn", "role": "sme_user"})
    assert response.status_code == 201
    link = factory.link_from_mail("new.colleague@example.cn", "invitations/")
    page = client.get(link)
    assert page.status_code == 200
    from ..factories import csrf_from

    done = client.post(link, data={"username": "newcolleague", "password": PASSWORD, "confirm": PASSWORD,
                                   "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 302
    user = db.session.scalar(select(User).where(User.username == "newcolleague"))
    assert user.organization_id == world.enterprise.id and user.roles == {Role.sme_user}
    listed = call(client, "GET", f"/organizations/{world.enterprise.id}/invitations", world.tokens["manager"])
    assert listed.get_json()["items"][0]["accepted_at"] is not None


# ---------------------------------------------------------------- users and roles


def test_the_system_administrator_creates_users_without_roles(client, world):
    token = world.tokens["system_admin"]
    response = call(client, "POST", "/users", token, json={"username": "zhangsan", "password": PASSWORD,
                                                           "email": "zhangsan@example.cn",
                                                           "organization_id": world.university.id})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["roles"] == [] and body["organization_id"] == world.university.id
    assert "password" not in body and "password_hash" not in body
    assert reload(User, body["id"]).roles == set()
    assert_error(call(client, "POST", "/users", token, json={"username": "ZhangSan", "password": PASSWORD,
                                                             "email": "z2@example.cn",
                                                             "organization_id": world.university.id}), 409,
                 fields={"username"})
    assert_error(call(client, "POST", "/users", token, json={"username": "lisi", "password": PASSWORD,
                                                             "email": "l@example.cn", "organization_id": 555555}),
                 422, fields={"organization_id"})
    assert_error(call(client, "POST", "/users", token, json={"username": "lisi", "password": "password",
                                                             "email": "l@example.cn",
                                                             "organization_id": world.university.id}),
                 422, fields={"password"})
    assert_error(call(client, "POST", "/users", token, json={"username": "l i", "password": PASSWORD,
                                                             "email": "l@example.cn",
                                                             "organization_id": world.university.id}),
                 422, fields={"username"})
    assert_error(call(client, "POST", "/users", token, json={"username": "lisi", "password": PASSWORD,
                                                             "email": "nope", "organization_id": world.university.id}),
                 422, fields={"email"})
    assert_error(call(client, "POST", "/users", token, json={"username": "lisi", "password": PASSWORD,
                                                             "email": "l@example.cn", "organization_id": 1,
                                                             "roles": ["system_admin"]}), 422, fields={"roles"})
    for who in ("security_admin", "manager", "audit_admin"):
        assert_error(call(client, "POST", "/users", world.tokens[who], json={
            "username": "wangwu", "password": PASSWORD, "email": "w@example.cn",
            "organization_id": world.enterprise.id}), 403)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.username == "wangwu")) == 0


def _roles_of(user_id: int) -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(RoleGrant.role).where(RoleGrant.user_id == user_id)))


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_the_security_administrator_grants_any_single_role_allowed_for_the_kind(client, world, factory, role):
    kind = next((k for k, roles in BUSINESS_ROLES_BY_KIND.items() if Role(role) in roles), OrgKind.commission)
    target = factory.user(factory.org(kind.value))
    response = call(client, "POST", f"/users/{target.id}/roles", world.tokens["security_admin"],
                    json={"roles": [role]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["roles"] == [role]
    assert _roles_of(target.id) == {role}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "role.granted")
                               .order_by(AuditEntry.seq.desc())).first()
    assert entry.actor_id == world.security_admin.id and entry.object_id == str(target.id)


@pytest.mark.parametrize("roles", [["system_admin", "security_admin"], ["audit_admin", "sme_user"],
                                   ["system_admin", "commission_officer"]])
def test_an_administrator_role_is_never_combined_with_another(client, world, factory, roles):
    target = factory.user(world.commission)
    response = call(client, "POST", f"/users/{target.id}/roles", world.tokens["security_admin"],
                    json={"roles": roles})
    assert response.status_code in (409, 422)
    assert_error(response, response.status_code, fields={"roles"})
    assert _roles_of(target.id) == set()


def test_an_administrator_role_is_not_added_to_a_user_with_roles_and_vice_versa(client, world):
    token = world.tokens["security_admin"]
    response = call(client, "POST", f"/users/{world.officer.id}/roles", token, json={"roles": ["audit_admin"]})
    assert response.status_code in (409, 422)
    response = call(client, "POST", f"/users/{world.system_admin.id}/roles", token,
                    json={"roles": ["commission_auditor"]})
    assert response.status_code in (409, 422)
    assert _roles_of(world.officer.id) == {"commission_officer"}
    assert _roles_of(world.system_admin.id) == {"system_admin"}


def test_nobody_grants_roles_to_themselves(client, world):
    for who, role in (("security_admin", "system_admin"), ("security_admin", "security_admin"),
                      ("manager", "sme_user")):
        user = getattr(world, who)
        before = _roles_of(user.id)
        response = call(client, "POST", f"/users/{user.id}/roles", world.tokens[who], json={"roles": [role]})
        assert_error(response, 403)
        assert _roles_of(user.id) == before
    assert_error(call(client, "DELETE", f"/users/{world.manager.id}/roles/sme_user", world.tokens["manager"]), 403)


def test_the_manager_grants_business_roles_of_the_own_organisation_only(client, world, factory):
    uni_member = factory.user(world.university)
    token = world.tokens["operator"]  # the university's manager
    ok = call(client, "POST", f"/users/{uni_member.id}/roles", token, json={"roles": ["provider_operator",
                                                                                      "sme_user"]})
    assert ok.status_code == 200
    assert _roles_of(uni_member.id) == {"provider_operator", "sme_user"}
    for roles in (["defence_approver"], ["system_admin"], ["commission_officer"], ["security_admin"]):
        body = assert_error(call(client, "POST", f"/users/{uni_member.id}/roles", token, json={"roles": roles}), 403)
        assert set(body["fields"]) == {"roles"}
    assert _roles_of(uni_member.id) == {"provider_operator", "sme_user"}
    # Another organisation's user is not visible to the manager.
    assert_error(call(client, "POST", f"/users/{world.colleague.id}/roles", token, json={"roles": ["sme_user"]}), 404)
    # A plain member is not a manager; the system administrator does not grant roles.
    assert_error(call(client, "POST", f"/users/{world.colleague.id}/roles", world.tokens["sme"],
                      json={"roles": ["sme_user"]}), 403)
    assert_error(call(client, "POST", f"/users/{uni_member.id}/roles", world.tokens["system_admin"],
                      json={"roles": ["sme_user"]}), 403)


def test_role_bodies_are_checked(client, world):
    path = f"/users/{world.colleague.id}/roles"
    token = world.tokens["security_admin"]
    assert_error(call(client, "POST", path, token, json={"roles": []}), 422, fields={"roles"})
    assert_error(call(client, "POST", path, token, json={"roles": ["emperor"]}), 422, fields={"roles"})
    assert_error(call(client, "POST", path, token, json={"roles": "sme_user"}), 422, fields={"roles"})
    assert_error(call(client, "POST", path, token, json={}), 422, fields={"roles"})
    assert_error(call(client, "POST", "/users/999999/roles", token, json={"roles": ["sme_user"]}), 404)
    assert_error(call(client, "DELETE", f"/users/{world.colleague.id}/roles/emperor", token), 422)
    assert_error(call(client, "DELETE", f"/users/{world.colleague.id}/roles/provider_operator", token), 404)


def test_removing_a_role_ends_the_users_sessions(client, world):
    member_client = client.application.test_client()
    assert login(member_client, world.colleague.username).status_code == 302
    response = call(client, "DELETE", f"/users/{world.colleague.id}/roles/sme_user", world.tokens["manager"])
    assert response.status_code == 200 and response.get_json()["roles"] == []
    assert member_client.get("/profile/").status_code == 302


def test_users_are_visible_to_colleagues_and_the_account_administrators_only(client, world):
    path = f"/users/{world.colleague.id}"
    for who in ("manager", "sme", "system_admin", "security_admin"):
        assert call(client, "GET", path, world.tokens[who]).get_json()["id"] == world.colleague.id
    for who in ("operator", "officer", "audit_admin"):
        assert_error(call(client, "GET", path, world.tokens[who]), 404)
    listed = call(client, "GET", "/users", world.tokens["manager"]).get_json()
    assert {u["organization_id"] for u in listed["items"]} == {world.enterprise.id}
    assert listed["total"] == 3
    everyone = call(client, "GET", "/users?per_page=100", world.tokens["security_admin"]).get_json()
    assert everyone["total"] == count(User)
    assert_error(call(client, "GET", "/users", world.tokens["sme"]), 403)


# ---------------------------------------------------------------- money and times


def test_money_fields_are_integers_and_times_carry_an_offset(client, world):
    call(client, "PATCH", f"/organizations/{world.enterprise.id}", world.tokens["manager"],
         json={"sme": {"annual_revenue_fen": 2**53 + 1, "total_assets_fen": 0}})

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v, key)
        else:
            yield key, value

    body = call(client, "GET", "/me", world.tokens["manager"]).get_json()
    pairs = list(walk(body))
    fen = [(k, v) for k, v in pairs if k.endswith("_fen")]
    assert fen and all(v is None or (type(v) is int and v >= 0) for _k, v in fen)
    assert dict(fen)["annual_revenue_fen"] == 2**53 + 1
    times = [v for k, v in pairs if k.endswith("_at") and v is not None]
    assert times and all(ISO_WITH_OFFSET.match(v) for v in times)
    assert all(type(v) is int for k, v in pairs if k == "id" or (k.endswith("_id") and v is not None))


def test_negative_and_fractional_money_is_refused(client, world):
    path = f"/organizations/{world.enterprise.id}"
    for value in (-1, 1.5, "100", True, 2**63):
        body = assert_error(call(client, "PATCH", path, world.tokens["manager"],
                                 json={"sme": {"total_assets_fen": value}}), 422)
        assert "sme.total_assets_fen" in body["fields"], value


# ---------------------------------------------------------------- the authorisation matrix

PERSONAS = ["anonymous", "sme", "operator", "security_admin", "audit_admin", "manager", "system_admin"]


def _fresh_member(factory, world, roles=(Role.sme_user,), disabled=False) -> int:
    user = factory.user(world.enterprise, roles)
    if disabled:
        with db.transaction():
            db.session.merge(user).is_disabled = True
    return user.id


def _pending_org(factory) -> int:
    org = factory.org("university", verified=False)
    return org.id


def _own_token_id(world, who) -> int:
    return db.session.scalar(select(ApiToken.id).join(User).where(User.id == getattr(world, who).id))


# Each route: a function (factory, world, persona) -> (path, body), and the expected status per persona.
MATRIX = {
    ("POST", "/tokens"): (lambda f, w, p: ("/tokens", None),
                          dict.fromkeys(PERSONAS, 401)),
    ("GET", "/tokens"): (lambda f, w, p: ("/tokens", None),
                         dict.fromkeys(PERSONAS, 200) | {"anonymous": 401}),
    ("DELETE", "/tokens/<int:token_id>"): (
        lambda f, w, p: (f"/tokens/{_own_token_id(w, 'colleague')}", None),
        dict.fromkeys(PERSONAS, 404) | {"anonymous": 401}),
    ("GET", "/me"): (lambda f, w, p: ("/me", None), dict.fromkeys(PERSONAS, 200) | {"anonymous": 401}),
    ("POST", "/organizations"): (
        lambda f, w, p: ("/organizations", org_body("enterprise")),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 201, "system_admin": 201}),
    ("GET", "/organizations"): (lambda f, w, p: ("/organizations", None), dict.fromkeys(PERSONAS, 200)),
    ("GET", "/organizations/<int:org_id>"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}", None), dict.fromkeys(PERSONAS, 200)),
    ("PATCH", "/organizations/<int:org_id>"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}", {"contact_name": "联系人"}),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "manager": 200, "system_admin": 200}),
    ("POST", "/organizations/<int:org_id>/verify"): (
        lambda f, w, p: (f"/organizations/{_pending_org(f)}/verify", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "system_admin": 200}),
    ("POST", "/organizations/<int:org_id>/suspend"): (
        lambda f, w, p: (f"/organizations/{f.org('key_lab').id}/suspend", {"reason": "检查"}),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "system_admin": 200}),
    ("POST", "/organizations/<int:org_id>/relations"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}/relations",
                         {"other_id": f.org("key_lab").id, "kind": "co_building"}),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "system_admin": 201}),
    ("GET", "/organizations/<int:org_id>/relations"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}/relations", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "sme": 200, "manager": 200, "system_admin": 200}),
    ("POST", "/organizations/<int:org_id>/invitations"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}/invitations",
                         {"email": f"{p}@example.cn", "role": "sme_user"}),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "manager": 201}),
    ("GET", "/organizations/<int:org_id>/invitations"): (
        lambda f, w, p: (f"/organizations/{w.enterprise.id}/invitations", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "manager": 200, "system_admin": 200}),
    ("POST", "/users"): (
        lambda f, w, p: ("/users", {"username": f"new-{p}", "password": PASSWORD, "email": f"{p}@example.cn",
                                    "organization_id": w.enterprise.id}),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "system_admin": 201}),
    ("GET", "/users"): (  # "operator" manages the university: a manager lists the own organisation's users
        lambda f, w, p: ("/users", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "manager": 200, "operator": 200, "system_admin": 200,
                                        "security_admin": 200}),
    ("GET", "/users/<int:user_id>"): (
        lambda f, w, p: (f"/users/{w.colleague.id}", None),
        {"anonymous": 401, "sme": 200, "operator": 404, "security_admin": 200, "audit_admin": 404,
         "manager": 200, "system_admin": 200}),
    ("POST", "/users/<int:user_id>/roles"): (
        lambda f, w, p: (f"/users/{_fresh_member(f, w, roles=())}/roles", {"roles": ["sme_user"]}),
        {"anonymous": 401, "sme": 403, "operator": 404, "security_admin": 200, "audit_admin": 404,
         "manager": 200, "system_admin": 403}),
    ("DELETE", "/users/<int:user_id>/roles/<role>"): (
        lambda f, w, p: (f"/users/{_fresh_member(f, w)}/roles/sme_user", None),
        {"anonymous": 401, "sme": 403, "operator": 404, "security_admin": 200, "audit_admin": 404,
         "manager": 200, "system_admin": 403}),
    ("POST", "/users/<int:user_id>/disable"): (
        lambda f, w, p: (f"/users/{_fresh_member(f, w)}/disable", {"reason": "离职"}),
        {"anonymous": 401, "sme": 403, "operator": 404, "security_admin": 403, "audit_admin": 404,
         "manager": 200, "system_admin": 200}),
    ("POST", "/users/<int:user_id>/enable"): (
        lambda f, w, p: (f"/users/{_fresh_member(f, w, disabled=True)}/enable", None),
        {"anonymous": 401, "sme": 403, "operator": 404, "security_admin": 403, "audit_admin": 404,
         "manager": 200, "system_admin": 200}),
    ("GET", "/audit/entries"): (
        lambda f, w, p: ("/audit/entries", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "audit_admin": 200}),
    ("GET", "/audit/verify"): (
        lambda f, w, p: ("/audit/verify", None),
        dict.fromkeys(PERSONAS, 403) | {"anonymous": 401, "audit_admin": 200}),
    ("GET", "/audit/anchors"): (lambda f, w, p: ("/audit/anchors", None), dict.fromkeys(PERSONAS, 200)),
    ("GET", "/openapi.json"): (lambda f, w, p: ("/openapi.json", None), dict.fromkeys(PERSONAS, 200)),
}


ACCOUNT_MODULES = ("instrument_share.api.accounts", "instrument_share.api.audit_log", "instrument_share.api.openapi")


def test_the_matrix_covers_every_registered_operation(app):
    """Every operation of the accounts, audit and meta modules is in the matrix (later modules test their own)."""
    registered = {(op.method, op.path) for op in OPERATIONS
                  if app.view_functions[f"api.{op.endpoint}"].__module__ in ACCOUNT_MODULES}
    assert registered == set(MATRIX), f"missing: {registered - set(MATRIX)}; stale: {set(MATRIX) - registered}"
    assert all(rule.endpoint.removeprefix("api.") in {op.endpoint for op in OPERATIONS}
               for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/"))


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorisation_matrix(client, factory, world, route):
    build, expected = MATRIX[route]
    method = route[0]
    got = {}
    for persona in PERSONAS:
        path, body = build(factory, world, persona)
        token = None if persona == "anonymous" else world.tokens[persona]
        response = call(client, method, path, token, json=body)
        got[persona] = response.status_code
        if response.status_code >= 400:
            assert_error(response, response.status_code)
        else:
            assert response.mimetype == "application/json"
    assert got == expected


def test_expected_statuses_follow_the_contract_status_list():
    allowed = {200, 201, 401, 403, 404}
    for route, (_build, expected) in MATRIX.items():
        assert set(expected) == set(PERSONAS), route
        assert set(expected.values()) <= allowed, route


def test_an_expiring_token_is_still_valid_just_before_expiry(client, factory, frozen_clock):
    user = factory.user(roles=(Role.sme_user,))
    token = factory.token(user)
    frozen_clock.move(days=client.application.config["API_TOKEN_DAYS"] - 1, hours=23)
    assert call(client, "GET", "/me", token).status_code == 200
    stored = db.session.scalar(select(ApiToken.expires_at))
    assert stored - timedelta(days=client.application.config["API_TOKEN_DAYS"]) <= now_utc()
