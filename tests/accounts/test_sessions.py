"""Sessions and separation of duties: copied cookies die with logout, password change and disabling; idle and
absolute timeouts; only local `next` redirects; security headers; administrator roles never combined, no
self-grants, and every grant and removal in the audit log."""

import json
import time

import pytest
from sqlalchemy import select

from instrument_share.accounts.models import RoleGrant, User
from instrument_share.accounts.roles import Role
from instrument_share.audit.models import AuditEntry
from instrument_share.config import load_config
from instrument_share.db import db
from instrument_share.web.helpers import safe_next

from ..factories import PASSWORD, csrf_from, english, login, post_form, sign_in, signed_in

NEW_PASSWORD = "another long passphrase 2026"


def copy_of_cookie(app, client):
    """A second browser holding a copy of the client's current session cookie."""
    value = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", value)
    return thief


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def role_audit(user: User) -> list[tuple[str, int | None, str]]:
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(("role.granted", "role.removed")), AuditEntry.object_type == "user",
        AuditEntry.object_id == str(user.id)).order_by(AuditEntry.seq))
    return [(e.action, e.actor_id, json.loads(e.details)["role"]) for e in entries]


# ---- copied cookies ------------------------------------------------------------------------------------------------


def test_a_cookie_copied_before_logout_is_refused_afterwards(app, client, factory):
    user = factory.user(roles=(Role.sme_user,))
    sign_in(client, factory, user)
    thief = copy_of_cookie(app, client)
    assert signed_in(thief)  # the copy works while the session lives
    response = post_form(client, "/logout", page="/profile/")
    assert response.status_code == 302
    assert not signed_in(client)
    assert not signed_in(thief)
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "logout")) == "logout"


def test_logout_ends_every_session_of_the_account(app, client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    laptop = app.test_client()
    sign_in(laptop, factory, user)
    post_form(client, "/logout", page="/profile/")
    assert not signed_in(laptop)


def test_a_cookie_copied_before_a_password_change_is_refused_afterwards(app, client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    thief = copy_of_cookie(app, client)
    wrong = post_form(client, "/profile/password", {"pw-current_password": "not it", "pw-new_password": NEW_PASSWORD,
                                                    "pw-confirm": NEW_PASSWORD}, page="/profile/")
    assert wrong.status_code == 422
    assert signed_in(thief)  # a refused change ends nothing

    response = post_form(client, "/profile/password", {"pw-current_password": PASSWORD, "pw-new_password": NEW_PASSWORD,
                                                       "pw-confirm": NEW_PASSWORD}, page="/profile/")
    assert response.status_code == 302
    assert signed_in(client)  # the session that changed the password goes on
    assert not signed_in(thief)
    assert login(app.test_client(), user.username, PASSWORD).status_code == 200
    sign_in(app.test_client(), factory, user, NEW_PASSWORD)


def test_a_cookie_copied_before_the_account_is_disabled_is_refused_afterwards(app, client, factory):
    user = factory.user(roles=(Role.sme_user,))
    token = factory.bearer(user)
    sign_in(client, factory, user)
    thief = copy_of_cookie(app, client)

    sysadmin = factory.user(org=factory.org("commission"), roles=(Role.system_admin,), totp=True)
    admin_client = app.test_client()
    sign_in(admin_client, factory, sysadmin)
    page = f"/admin/users/{user.id}"
    assert post_form(admin_client, f"{page}/disable", page=page).status_code == 302
    assert fresh(user).is_disabled
    assert not signed_in(client)
    assert not signed_in(thief)
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    assert login(app.test_client(), user.username).status_code == 200  # and no new sign-in

    # Enabling the account again does not bring the old cookie back.
    assert post_form(admin_client, f"{page}/enable", page=page).status_code == 302
    assert not fresh(user).is_disabled
    assert not signed_in(copy_of_cookie(app, thief))
    sign_in(app.test_client(), factory, user)


def test_a_cookie_copied_before_a_role_is_removed_is_refused_afterwards(app, client, factory):
    org = factory.org("university")
    manager = factory.user(org=org, manager=True)
    colleague = factory.user(org=org, roles=(Role.provider_operator, Role.sme_user))
    sign_in(client, factory, colleague)
    thief = copy_of_cookie(app, client)
    response = app.test_client().delete(f"/api/v1/users/{colleague.id}/roles/provider_operator",
                                        headers=factory.bearer(manager))
    assert response.status_code == 200
    assert not signed_in(thief)
    assert not signed_in(client)


# ---- timeouts ------------------------------------------------------------------------------------------------------


def age(client, key: str, seconds: int) -> None:
    """Move a session time stamp into the past (the session keeps int(time.time()) values)."""
    with client.session_transaction() as session:
        session[key] = int(time.time()) - seconds


def test_the_session_ends_after_30_idle_minutes(client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    age(client, "seen", 29 * 60)
    assert signed_in(client)
    age(client, "seen", 31 * 60)
    response = client.get("/profile/")
    assert response.status_code == 302 and response.location == "/login?next=/profile/"
    with client.session_transaction() as session:
        assert "_user_id" not in session  # the session is gone, not just skipped once
    assert not signed_in(client)


def test_activity_keeps_the_session_alive(client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    for _ in range(3):  # 60 minutes in all, never 30 idle
        age(client, "seen", 20 * 60)
        assert signed_in(client)


def test_a_form_sent_after_the_idle_timeout_is_refused(client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    token = csrf_from(client.get("/profile/").get_data(as_text=True))
    age(client, "seen", 31 * 60)
    response = client.post("/profile/tokens", data={"tok-name": "late", "csrf_token": token})
    assert response.status_code == 401
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "token.created")) is None


def test_the_idle_timeout_is_configurable(app, client, factory, monkeypatch, tmp_path):
    monkeypatch.setenv("IDLE_TIMEOUT_MINUTES", "5")
    assert load_config(tmp_path, {"SECRET_KEY": "x"})["IDLE_TIMEOUT_MINUTES"] == 5
    monkeypatch.delenv("IDLE_TIMEOUT_MINUTES")
    assert load_config(tmp_path, {"SECRET_KEY": "x"})["IDLE_TIMEOUT_MINUTES"] == 30

    app.config["IDLE_TIMEOUT_MINUTES"] = 5
    user = factory.user()
    sign_in(client, factory, user)
    age(client, "seen", 4 * 60)
    assert signed_in(client)
    age(client, "seen", 6 * 60)
    assert not signed_in(client)


def test_a_session_ends_after_its_absolute_lifetime_even_when_active(client, factory, app):
    user = factory.user()
    sign_in(client, factory, user)
    hours = app.config["SESSION_LIFETIME_HOURS"]
    age(client, "login_at", hours * 3600 - 60)
    assert signed_in(client)
    age(client, "login_at", hours * 3600 + 60)
    assert not signed_in(client)


# ---- next redirects ------------------------------------------------------------------------------------------------

BAD_TARGETS = ["//evil.com", "//evil.com/profile/", "/\\evil.com", "\\\\evil.com", "/\\/evil.com",
               "https://evil.com", "http://localhost.evil.com/", "https:evil.com", "javascript:alert(1)",
               "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", " //evil.com", "evil.com",
               "/\t/evil.com", "/\n/evil.com", "///evil.com", "ftp://evil.com"]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_safe_next_refuses_anything_but_a_local_path(target):
    assert safe_next(target, "/") == "/"


@pytest.mark.parametrize("target", ["/profile/", "/organization", "/profile/?tab=tokens", "/admin/users?q=a%2Fb"])
def test_safe_next_keeps_local_paths(target):
    assert safe_next(target, "/") == target


def login_with_next(client, user, target: str):
    page = client.get("/login", query_string={"next": target})
    return client.post("/login", query_string={"next": target}, data={
        "username": user.username, "password": PASSWORD, "csrf_token": csrf_from(page.get_data(as_text=True))})


@pytest.mark.parametrize("target", ["//evil.com", "/\\evil.com", "https://evil.com", "javascript:alert(1)",
                                    "\\\\evil.com", "https:evil.com"])
def test_sign_in_never_redirects_off_site(app, factory, target):
    user = factory.user()
    response = login_with_next(app.test_client(), user, target)
    assert response.status_code == 302
    assert response.location == "/"


def test_sign_in_follows_a_local_next(client, factory):
    user = factory.user()
    response = login_with_next(client, user, "/profile/")
    assert response.status_code == 302 and response.location == "/profile/"


def test_sign_in_after_the_code_step_never_redirects_off_site(client, factory):
    user = factory.user(totp=True)
    assert login_with_next(client, user, "//evil.com").location == "/login/totp"
    page = client.get("/login/totp")
    response = client.post("/login/totp", data={"code": factory.totp_code(user),
                                                "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.location == "/"


@pytest.mark.parametrize(("target", "expected"), [("//evil.com", "/"), ("https://evil.com", "/"),
                                                  ("/\\evil.com", "/"), ("/register", "/register")])
def test_the_language_switch_only_returns_to_local_pages(client, target, expected):
    response = post_form(client, "/language", {"lang": "en", "next": target})
    assert response.status_code == 302 and response.location == expected


def test_an_expired_session_sends_to_login_with_a_local_next(client, factory):
    user = factory.user()
    sign_in(client, factory, user)
    age(client, "seen", 31 * 60)
    location = client.get("/organization").location
    assert location == "/login?next=/organization"
    assert login_with_next(client, user, "/organization").location == "/organization"


# ---- security headers ----------------------------------------------------------------------------------------------


def assert_security_headers(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin", "no-referrer")
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/password/forgot", "/no-such-page",
                                  "/api/v1/openapi.json", "/api/v1/me", "/confirm/unknown"])
def test_security_headers_on_every_kind_of_response(client, path):
    assert_security_headers(client.get(path))


def test_security_headers_and_no_caching_on_signed_in_pages(client, factory):
    user = factory.user()
    response = sign_in(client, factory, user)
    assert_security_headers(response)
    page = client.get("/profile/")
    assert page.status_code == 200
    assert_security_headers(page)
    assert "no-store" in page.headers["Cache-Control"]


def test_the_session_cookie_is_http_only_and_same_site(client, factory):
    user = factory.user()
    response = login(client, user.username)
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure_host_cookies(tmp_path, monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    cfg = load_config(tmp_path, {"SECRET_KEY": "x"})
    assert cfg["SESSION_COOKIE_SECURE"] is True and cfg["SESSION_COOKIE_NAME"] == "__Host-session"
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True and cfg["SESSION_COOKIE_SAMESITE"] == "Lax"


# ---- separation of duties: the admin pages ------------------------------------------------------------------------


@pytest.fixture
def security_admin(factory):
    return factory.user(org=factory.org("commission"), roles=(Role.security_admin,), totp=True)


@pytest.fixture
def admin_client(app, factory, security_admin):
    c = app.test_client()
    english(c)
    sign_in(c, factory, security_admin)
    return c


def grant_page(admin_client, user: User, roles: list[str]):
    page = f"/admin/users/{user.id}"
    return post_form(admin_client, f"{page}/roles", {"roles": roles}, page=page)


def flashed(admin_client, user: User) -> str:
    return admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True)


def test_the_security_admin_grants_and_removes_a_role_on_the_admin_page(admin_client, factory, security_admin, app):
    user = factory.user(org=factory.org("university"))
    assert grant_page(admin_client, user, ["provider_operator", "sme_user"]).status_code == 302
    assert fresh(user).roles == {Role.provider_operator, Role.sme_user}
    assert role_audit(user) == [("role.granted", security_admin.id, "provider_operator"),
                                ("role.granted", security_admin.id, "sme_user")]
    granted = db.session.scalar(select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == "sme_user"))
    assert granted.granted_by_id == security_admin.id

    page = f"/admin/users/{user.id}"
    assert post_form(admin_client, f"{page}/roles/sme_user/remove", page=page).status_code == 302
    assert fresh(user).roles == {Role.provider_operator}
    assert role_audit(user)[-1] == ("role.removed", security_admin.id, "sme_user")


@pytest.mark.parametrize(("held", "wanted"), [
    ((), ["system_admin", "security_admin"]),
    ((), ["audit_admin", "sme_user"]),
    ((Role.sme_user,), ["system_admin"]),
    ((Role.provider_operator,), ["audit_admin"]),
    ((Role.audit_admin,), ["sme_user"]),
    ((Role.system_admin,), ["security_admin"]),
])
def test_the_admin_page_never_combines_an_administrator_role_with_another(admin_client, factory, held, wanted):
    user = factory.user(org=factory.org("university"), roles=held)
    before = fresh(user).roles
    response = grant_page(admin_client, user, wanted)
    assert response.status_code == 302
    assert fresh(user).roles == before
    assert role_audit(user) == []
    assert "an administrator role cannot be combined with any other role" in flashed(admin_client, user)


def test_the_admin_page_refuses_a_role_not_allowed_for_the_organisation(admin_client, factory):
    user = factory.user(org=factory.org("enterprise"))
    grant_page(admin_client, user, ["provider_operator"])
    assert fresh(user).roles == set()
    assert role_audit(user) == []


def test_the_admin_page_refuses_self_grants_and_self_removals(admin_client, security_admin):
    for roles in (["audit_admin"], ["sme_user"], ["security_admin"]):
        grant_page(admin_client, security_admin, roles)
        assert "Nobody grants or removes their own roles" in flashed(admin_client, security_admin)
    page = f"/admin/users/{security_admin.id}"
    post_form(admin_client, f"{page}/roles/security_admin/remove", page=page)
    assert fresh(security_admin).roles == {Role.security_admin}
    assert role_audit(security_admin) == []
    assert f'action="{page}/roles"' not in admin_client.get(page).get_data(as_text=True)  # no form offered


def test_only_the_security_admin_grants_roles_on_the_admin_pages(app, factory):
    sysadmin = factory.user(org=factory.org("commission"), roles=(Role.system_admin,), totp=True)
    c = app.test_client()
    sign_in(c, factory, sysadmin)
    user = factory.user(org=factory.org("university"))
    response = grant_page(c, user, ["provider_operator"])
    assert response.status_code == 403
    assert fresh(user).roles == set() and role_audit(user) == []


# ---- separation of duties: the API ---------------------------------------------------------------------------------


def grant_api(client, factory, actor: User, user: User, roles):
    return client.post(f"/api/v1/users/{user.id}/roles", headers=factory.bearer(actor), json={"roles": roles})


def test_the_security_admin_grants_and_removes_roles_through_the_api(client, factory, security_admin):
    user = factory.user(org=factory.org("defence_unit"))
    response = grant_api(client, factory, security_admin, user, ["provider_operator", "defence_approver"])
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["defence_approver", "provider_operator"]
    assert role_audit(user) == [("role.granted", security_admin.id, "defence_approver"),
                                ("role.granted", security_admin.id, "provider_operator")]
    # Granting a role already held adds nothing and writes nothing.
    assert grant_api(client, factory, security_admin, user, ["provider_operator"]).status_code == 200
    assert len(role_audit(user)) == 2

    removed = client.delete(f"/api/v1/users/{user.id}/roles/defence_approver", headers=factory.bearer(security_admin))
    assert removed.status_code == 200 and removed.get_json()["roles"] == ["provider_operator"]
    assert role_audit(user)[-1] == ("role.removed", security_admin.id, "defence_approver")
    missing = client.delete(f"/api/v1/users/{user.id}/roles/defence_approver", headers=factory.bearer(security_admin))
    assert missing.status_code == 404
    assert len(role_audit(user)) == 3


@pytest.mark.parametrize(("held", "wanted"), [
    ((), ["system_admin", "audit_admin"]),
    ((), ["security_admin", "provider_operator"]),
    ((Role.sme_user,), ["system_admin"]),
    ((Role.audit_admin,), ["provider_operator"]),
    ((Role.security_admin,), ["audit_admin"]),
])
def test_the_api_never_combines_an_administrator_role_with_another(client, factory, security_admin, held, wanted):
    user = factory.user(org=factory.org("university"), roles=held)
    english(client)
    response = grant_api(client, factory, security_admin, user, wanted)
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "role_conflict"
    assert body["fields"]["roles"] == "an administrator role cannot be combined with any other role"
    assert fresh(user).roles == set(held)
    assert role_audit(user) == []


def test_the_api_refuses_self_grants_and_self_removals(client, factory, security_admin):
    for roles in (["audit_admin"], ["security_admin"], ["sme_user"]):
        response = grant_api(client, factory, security_admin, security_admin, roles)
        assert response.status_code == 403 and response.get_json()["error"] == "self_grant"
    removal = client.delete(f"/api/v1/users/{security_admin.id}/roles/security_admin",
                            headers=factory.bearer(security_admin))
    assert removal.status_code == 403 and removal.get_json()["error"] == "self_grant"
    assert fresh(security_admin).roles == {Role.security_admin}
    assert role_audit(security_admin) == []


def test_a_manager_grants_only_business_roles_of_the_kind_and_never_to_themselves(client, factory):
    org = factory.org("university")
    manager = factory.user(org=org, roles=(Role.provider_operator,), manager=True)
    colleague = factory.user(org=org)
    for wanted in (["system_admin"], ["audit_admin"], ["commission_auditor"], ["defence_approver"]):
        response = grant_api(client, factory, manager, colleague, wanted)
        assert response.status_code == 403 and response.get_json()["error"] == "role_not_allowed"
    self_grant = grant_api(client, factory, manager, manager, ["sme_user"])
    assert self_grant.status_code == 403 and self_grant.get_json()["error"] == "self_grant"
    assert role_audit(colleague) == [] and role_audit(manager) == []

    assert grant_api(client, factory, manager, colleague, ["sme_user"]).status_code == 200
    assert role_audit(colleague) == [("role.granted", manager.id, "sme_user")]


def test_nobody_else_grants_roles(client, factory):
    org = factory.org("university")
    member = factory.user(org=org, roles=(Role.provider_operator,))
    colleague = factory.user(org=org)
    outsider_manager = factory.user(org=factory.org("university"), manager=True)
    sysadmin = factory.user(org=factory.org("commission"), roles=(Role.system_admin,))
    assert grant_api(client, factory, member, colleague, ["sme_user"]).status_code == 403
    assert grant_api(client, factory, outsider_manager, colleague, ["sme_user"]).status_code == 404
    assert grant_api(client, factory, sysadmin, colleague, ["sme_user"]).status_code == 403
    assert client.post(f"/api/v1/users/{colleague.id}/roles", json={"roles": ["sme_user"]}).status_code == 401
    assert fresh(colleague).roles == set() and role_audit(colleague) == []


@pytest.mark.parametrize("body", [{"roles": []}, {"roles": ["superuser"]}, {"roles": "sme_user"}, {}])
def test_a_malformed_grant_is_refused_with_422(client, factory, security_admin, body):
    user = factory.user(org=factory.org("university"))
    response = client.post(f"/api/v1/users/{user.id}/roles", headers=factory.bearer(security_admin), json=body)
    assert response.status_code == 422
    assert role_audit(user) == []
