"""Account life cycles through the real pages: enterprise registration → email confirmation → verification →
sign-in; forgotten-password reset (single use, one hour); invitations by the organisation's manager."""

import base64

import pytest
from sqlalchemy import func, select

from instrument_share.accounts.models import Invitation, LoginFailure, Organization, User
from instrument_share.accounts.roles import OrgStatus, Role
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db

from ..factories import PASSWORD, csrf_from, english, login, post_form, sign_in, signed_in

NEW_PASSWORD = "a brand new passphrase 2026"
USCC = "91320100MA1MXE6U4L"  # 3201xx: Nanjing; valid check character


def admin(factory, role: Role = Role.system_admin) -> User:
    return factory.user(org=factory.org("commission"), roles=(role,), totp=True)


def audit_actions(object_type: str, object_id) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type,
                                                       AuditEntry.object_id == str(object_id))
                              .order_by(AuditEntry.seq))
    return [(row.action, row.details) for row in rows]


def user_named(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == username))


# ---- registration → confirmation → verification → sign-in ----------------------------------------------------------


def register(client, *, username: str = "nj-first", email: str = "first@nj-example.cn"):
    data = {"name": "南京示例仪器科技有限公司", "uscc": USCC, "staff_count": "35", "annual_revenue_yuan": "8000000",
            "total_assets_yuan": "12000000", "tech_sme_no": "202432010100123", "username": username,
            "email": email, "password": PASSWORD, "confirm": PASSWORD}
    return post_form(client, "/register", data, page="/register")


def test_enterprise_registration_confirmation_verification_and_sign_in(client, factory, app):
    english(client)
    assert client.get("/register").status_code == 200
    response = register(client)
    assert response.status_code == 200
    assert "first@nj-example.cn" in response.get_data(as_text=True)

    org = db.session.scalar(select(Organization).where(Organization.uscc == USCC))
    first = user_named("nj-first")
    assert (org.status, org.kind, org.region_code) == (OrgStatus.pending, "enterprise", "320100")
    assert first.organization_id == org.id
    assert first.email_confirmed_at is None and not first.is_org_manager and first.roles == set()
    assert first.password_hash.startswith("scrypt:") and PASSWORD not in first.password_hash

    mails = factory.outbox("first@nj-example.cn")
    assert len(mails) == 1
    link = factory.link_from_mail("first@nj-example.cn", "confirm/")

    # Before confirming, the password is right but the sign-in is refused (and is no failed attempt).
    response = login(client, "nj-first")
    assert response.status_code == 200
    assert "confirm your email address first" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0

    # The verifier cannot verify before the address is confirmed.
    sysadmin = admin(factory)
    api_verify = client.post(f"/api/v1/organizations/{org.id}/verify", headers=factory.bearer(sysadmin))
    assert api_verify.status_code == 409
    assert api_verify.get_json()["error"] == "email_not_confirmed"

    response = client.get(link)
    assert response.status_code == 302 and response.location.startswith("/login")
    assert user_named("nj-first").email_confirmed_at is not None
    assert client.get(link).status_code == 404  # the confirmation link works once

    # The system administrator verifies the organisation on its admin page.
    admin_client = app.test_client()
    sign_in(admin_client, factory, sysadmin)
    page = f"/admin/organizations/{org.id}"
    assert admin_client.get(page).status_code == 200
    response = post_form(admin_client, f"{page}/verify", page=page)
    assert response.status_code == 302
    db.session.expire_all()
    org = db.session.get(Organization, org.id)
    first = user_named("nj-first")
    assert org.status == OrgStatus.verified and org.verified_at is not None
    assert first.is_org_manager
    assert first.roles == {Role.sme_user}
    grants = [details for action, details in audit_actions("user", first.id) if action == "role.granted"]
    assert len(grants) == 1 and '"sme_user"' in grants[0]
    assert [a for a, _ in audit_actions("organization", org.id)] == ["org.created", "org.verified"]

    # Now the first user signs in as the enterprise's manager.
    sign_in(client, factory, first)
    assert signed_in(client)
    me = client.get("/organization").get_data(as_text=True)
    assert 'action="/organization/invitations"' in me  # the manager's invitation form


def test_registration_through_the_api_ends_with_a_token_for_the_verified_manager(client, factory):
    response = client.post("/api/v1/organizations", json={
        "name": "南京接口科技有限公司", "uscc": USCC, "kind": "enterprise",
        "sme": {"staff_count": 12, "annual_revenue_fen": 100_000_000, "total_assets_fen": 50_000_000},
        "first_user": {"username": "api-first", "password": PASSWORD, "email": "api@nj-example.cn"}})
    assert response.status_code == 201
    org_id = response.get_json()["id"]
    basic = {"Authorization": "Basic " + base64.b64encode(f"api-first:{PASSWORD}".encode()).decode()}
    refused = client.post("/api/v1/tokens", headers=basic)
    assert refused.status_code == 403 and refused.get_json()["error"] == "email_not_confirmed"

    assert client.get(factory.link_from_mail("api@nj-example.cn", "confirm/")).status_code == 302
    sysadmin = admin(factory)
    verified = client.post(f"/api/v1/organizations/{org_id}/verify", headers=factory.bearer(sysadmin))
    assert verified.status_code == 200 and verified.get_json()["status"] == "verified"

    created = client.post("/api/v1/tokens", headers=basic)
    assert created.status_code == 201
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {created.get_json()['token']}"}).get_json()
    assert me["roles"] == ["sme_user"] and me["is_org_manager"] is True
    assert me["organization"]["id"] == org_id


def test_the_confirmation_link_expires_after_three_days(client, factory, frozen_clock):
    assert register(client).status_code == 200
    link = factory.link_from_mail("first@nj-example.cn", "confirm/")
    frozen_clock.move(days=3, seconds=1)
    assert client.get(link).status_code == 404
    assert user_named("nj-first").email_confirmed_at is None


def test_a_made_up_confirmation_link_is_refused(client):
    assert client.get("/confirm/not-a-real-token").status_code == 404


# ---- password reset ------------------------------------------------------------------------------------------------


def request_reset(client, email: str):
    return post_form(client, "/password/forgot", {"email": email}, page="/password/forgot")


def set_new_password(client, link: str, password: str = NEW_PASSWORD):
    page = client.get(link)
    assert page.status_code == 200
    return client.post(link, data={"password": password, "confirm": password,
                                   "csrf_token": csrf_from(page.get_data(as_text=True))})


def test_password_reset_by_emailed_link(client, factory, app):
    user = factory.user(roles=(Role.sme_user,))
    other_session = app.test_client()
    sign_in(other_session, factory, user)

    response = request_reset(client, user.email.upper())
    assert response.status_code == 302 and response.location.startswith("/login")
    assert len(factory.outbox(user.email)) == 1
    link = factory.link_from_mail(user.email, "password/reset/")

    response = set_new_password(client, link)
    assert response.status_code == 302 and response.location.startswith("/login")
    assert login(client, user.username, PASSWORD).status_code == 200  # the old password stops working
    assert not signed_in(client)
    assert not signed_in(other_session)  # every session of the account has ended
    sign_in(client, factory, user, NEW_PASSWORD)
    assert "password.reset" in [action for action, _ in audit_actions("user", user.id)]


def test_a_reset_link_works_only_once(client, factory):
    user = factory.user()
    request_reset(client, user.email)
    link = factory.link_from_mail(user.email, "password/reset/")
    assert set_new_password(client, link).status_code == 302
    assert client.get(link).status_code == 404
    token = csrf_from(client.get("/login").get_data(as_text=True))
    again = client.post(link, data={"password": "yet another passphrase", "confirm": "yet another passphrase",
                                    "csrf_token": token})
    assert again.status_code == 404
    sign_in(client, factory, user, NEW_PASSWORD)


def test_a_reset_link_is_valid_for_one_hour(client, factory, frozen_clock):
    user = factory.user()
    request_reset(client, user.email)
    link = factory.link_from_mail(user.email, "password/reset/")
    frozen_clock.move(minutes=59)
    assert client.get(link).status_code == 200
    frozen_clock.move(minutes=1, seconds=1)
    assert client.get(link).status_code == 404
    token = csrf_from(client.get("/login").get_data(as_text=True))
    late = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": token})
    assert late.status_code == 404
    sign_in(client, factory, user, PASSWORD)  # the password is unchanged


def test_using_one_reset_link_kills_the_older_ones(client, factory):
    user = factory.user()
    request_reset(client, user.email)
    first = factory.link_from_mail(user.email, "password/reset/")
    request_reset(client, user.email)
    second = factory.link_from_mail(user.email, "password/reset/")
    assert first != second
    assert set_new_password(client, second).status_code == 302
    assert client.get(first).status_code == 404


def test_a_weak_new_password_is_refused_and_the_link_stays_usable(client, factory):
    user = factory.user()
    request_reset(client, user.email)
    link = factory.link_from_mail(user.email, "password/reset/")
    english(client)
    response = set_new_password(client, link, "short")
    assert response.status_code in (200, 422)
    assert "at least 10 characters" in response.get_data(as_text=True)
    assert set_new_password(client, link).status_code == 302
    sign_in(client, factory, user, NEW_PASSWORD)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, factory):
    user = factory.user()
    known = request_reset(client, user.email)
    unknown = request_reset(client, "nobody@example.cn")
    assert (known.status_code, known.location) == (unknown.status_code, unknown.location)
    assert factory.outbox("nobody@example.cn") == []
    assert len(factory.outbox(user.email)) == 1


def test_a_disabled_account_gets_no_reset_link(client, factory):
    user = factory.user()
    with db.transaction():
        db.session.merge(user).is_disabled = True
    request_reset(client, user.email)
    assert factory.outbox(user.email) == []


# ---- invitations ---------------------------------------------------------------------------------------------------


def invite_form(client, email: str, role: str):
    return post_form(client, "/organization/invitations", {"inv-email": email, "inv-role": role},
                     page="/organization")


def accept(client, link: str, username: str, password: str = PASSWORD):
    page = client.get(link)
    assert page.status_code == 200
    return client.post(link, data={"username": username, "password": password, "confirm": password,
                                   "csrf_token": csrf_from(page.get_data(as_text=True))})


def test_the_manager_invites_a_colleague_who_accepts_once(client, factory, app):
    university = factory.org("university")
    manager = factory.user(org=university, roles=(Role.provider_operator,), manager=True)
    sign_in(client, factory, manager)
    response = invite_form(client, "operator@nju-example.cn", "provider_operator")
    assert response.status_code == 302
    invitation = db.session.scalar(select(Invitation))
    assert (invitation.organization_id, invitation.email, invitation.role) == (
        university.id, "operator@nju-example.cn", "provider_operator")
    assert audit_actions("invitation", invitation.id)[0][0] == "invitation.created"
    link = factory.link_from_mail("operator@nju-example.cn", "invitations/")

    guest = app.test_client()
    response = accept(guest, link, "nju-operator")
    assert response.status_code == 302 and response.location.startswith("/login")
    colleague = user_named("nju-operator")
    assert colleague.organization_id == university.id
    assert colleague.email == "operator@nju-example.cn"
    assert colleague.roles == {Role.provider_operator}
    assert colleague.email_confirmed_at is not None and not colleague.is_org_manager
    granted = [d for a, d in audit_actions("user", colleague.id) if a == "role.granted"]
    assert len(granted) == 1 and '"provider_operator"' in granted[0] and '"invitation"' in granted[0]
    sign_in(guest, factory, colleague)

    # The link is spent: neither the page nor a second account.
    other = app.test_client()
    assert other.get(link).status_code == 404
    token = csrf_from(other.get("/login").get_data(as_text=True))
    again = other.post(link, data={"username": "second-try", "password": PASSWORD, "confirm": PASSWORD,
                                   "csrf_token": token})
    assert again.status_code == 404
    assert user_named("second-try") is None


@pytest.mark.parametrize(("kind", "role"), [
    ("enterprise", "provider_operator"), ("enterprise", "defence_approver"), ("university", "commission_auditor"),
    ("authority", "sme_user"), ("commission", "provider_operator"), ("key_lab", "system_admin"),
    ("defence_unit", "security_admin"), ("research_institute", "audit_admin"),
])
def test_a_role_not_allowed_for_the_organisation_kind_is_refused(client, factory, kind, role):
    org = factory.org(kind)
    manager = factory.user(org=org, manager=True)
    english(client)
    response = client.post(f"/api/v1/organizations/{org.id}/invitations", headers=factory.bearer(manager),
                           json={"email": "colleague@example.cn", "role": role})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "role_not_allowed" and "role" in body["fields"]
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert factory.outbox("colleague@example.cn") == []


def test_the_invitation_form_offers_and_accepts_only_the_kinds_business_roles(client, factory):
    enterprise = factory.org("enterprise")
    manager = factory.user(org=enterprise, roles=(Role.sme_user,), manager=True)
    sign_in(client, factory, manager)
    page = client.get("/organization").get_data(as_text=True)
    assert 'value="sme_user"' in page and 'value="provider_operator"' not in page
    refused = invite_form(client, "x@example.cn", "provider_operator")
    assert refused.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert invite_form(client, "x@example.cn", "sme_user").status_code == 302
    assert db.session.scalar(select(Invitation.role)) == "sme_user"


@pytest.mark.parametrize(("kind", "role"), [
    ("university", "sme_user"), ("defence_unit", "defence_approver"), ("authority", "defence_approver"),
    ("commission", "commission_officer"), ("key_lab", "provider_operator"),
])
def test_every_allowed_business_role_can_be_invited(client, factory, kind, role):
    org = factory.org(kind)
    manager = factory.user(org=org, manager=True)
    response = client.post(f"/api/v1/organizations/{org.id}/invitations", headers=factory.bearer(manager),
                           json={"email": "colleague@example.cn", "role": role})
    assert response.status_code == 201
    assert response.get_json()["role"] == role


def test_only_the_manager_invites(client, factory):
    org = factory.org("university")
    factory.user(org=org, manager=True)
    member = factory.user(org=org, roles=(Role.provider_operator,))
    response = client.post(f"/api/v1/organizations/{org.id}/invitations", headers=factory.bearer(member),
                           json={"email": "colleague@example.cn", "role": "provider_operator"})
    assert response.status_code == 403
    sign_in(client, factory, member)
    assert invite_form(client, "colleague@example.cn", "provider_operator").status_code in (403, 422)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_an_invitation_expires_after_seven_days(client, factory, frozen_clock):
    org = factory.org("university")
    manager = factory.user(org=org, manager=True)
    response = client.post(f"/api/v1/organizations/{org.id}/invitations", headers=factory.bearer(manager),
                           json={"email": "late@example.cn", "role": "provider_operator"})
    assert response.status_code == 201
    link = factory.link_from_mail("late@example.cn", "invitations/")
    frozen_clock.move(days=7, seconds=1)
    assert client.get(link).status_code == 404
